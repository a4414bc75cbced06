using System.Text;
using System.Text.RegularExpressions;
using Descent.Client.Cluster;
using Descent.Silo;
using Descent.Sweeps;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Orleans.Hosting.Kubernetes;

namespace Descent.Tests.Deploy;

/// <summary>deploy/k8s: every kustomization renders, every object passes both offline schema checks, and what the
/// silo, the sweep Job and Orleans' Kubernetes hosting rely on is in the manifests (no API server runs here).</summary>
public class ManifestTests
{
    public static TheoryData<string> Kustomizations => ["overlays/cpu", "overlays/gpu", "sweep"];

    static List<object> Objects(string folder) => Manifests.LoadStrict(Manifests.Render(folder));
    static T One<T>(string folder, string name) where T : IKubernetesObject<V1ObjectMeta> =>
        Objects(folder).OfType<T>().Single(o => o.Metadata.Name == name);
    static V1StatefulSet Silos(string overlay) => One<V1StatefulSet>(overlay, "descent-silo");
    static V1Container Silo(string overlay) => Silos(overlay).Spec.Template.Spec.Containers.Single(c => c.Name == "silo");
    static string? Env(V1Container container, string name) => container.Env.SingleOrDefault(e => e.Name == name)?.Value;

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_kustomization_renders_and_passes_both_schema_checks(string folder)
    {
        var yaml = Manifests.Render(folder);
        var (exit, output) = Manifests.ValidateWithModels(yaml);
        Assert.True(exit == 0, $"kubernetes-models refused deploy/k8s/{folder}:\n{output}");
        var objects = Manifests.LoadStrict(yaml);
        Assert.Equal(output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, objects.Count);
        // Everything lands in the namespace the base creates.
        Assert.All(objects.Cast<IKubernetesObject<V1ObjectMeta>>().Where(o => o is not V1Namespace),
            o => Assert.Equal("descent", o.Metadata.NamespaceProperty));
    }

    [Fact]
    public void The_results_reader_pod_passes_both_schema_checks()
    {
        var yaml = File.ReadAllText(Path.Combine(Manifests.K8s, "sweep", "results-reader.yaml"));
        Assert.Equal(0, Manifests.ValidateWithModels(yaml).Exit);
        var reader = Assert.IsType<V1Pod>(Assert.Single(Manifests.LoadStrict(yaml)));
        Assert.Equal("descent-results", reader.Spec.Volumes.Single().PersistentVolumeClaim.ClaimName);
    }

    [Fact]
    public void Both_checks_refuse_broken_manifests()
    {
        var yaml = Manifests.Render("overlays/gpu");
        // A quantity that is not one: kubernetes-models names the field.
        var broken = Replace(yaml, "memory: 32Gi", "memory: 32 gigs");
        var (exit, output) = Manifests.ValidateWithModels(broken);
        Assert.Equal(1, exit);
        Assert.Contains("invalid StatefulSet/descent-silo: ", output);
        Assert.Contains("/spec/template/spec/containers/0/resources/limits/memory must match format \"quantity\"", output);
        // A wrong type.
        (exit, output) = Manifests.ValidateWithModels(Replace(yaml, "containerPort: 8080", "containerPort: health"));
        Assert.Equal(1, exit);
        Assert.Contains("containerPort must be integer", output);
        // A required field missing: a RoleBinding without its roleRef.
        (exit, output) = Manifests.ValidateWithModels(Regex.Replace(yaml, @"roleRef:\n(  \S.*\n)+", ""));
        Assert.Equal(1, exit);
        Assert.Contains("invalid RoleBinding/descent-silo: / must have required property roleRef", output);
        // A field the API does not have (a misspelt grace period): kubernetes-models lets it through, strict loading does not.
        var unknown = Regex.Replace(yaml, @"terminationGracePeriodSeconds: (\d+)", "terminationGracePeriodSecond: $1");
        Assert.NotEqual(yaml, unknown);
        var e = Assert.ThrowsAny<Exception>(() => Manifests.LoadStrict(unknown));
        Assert.Contains("terminationGracePeriodSecond", e.ToString());
        // An object of a kind that does not exist.
        Assert.ThrowsAny<Exception>(() => Manifests.LoadStrict(Replace(yaml, "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett")));
        Assert.Equal(1, Manifests.ValidateWithModels(Replace(yaml, "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett")).Exit);
    }

    static string Replace(string yaml, string old, string replacement)
    {
        Assert.Contains(old, yaml);
        return yaml.Replace(old, replacement);
    }

    [Fact]
    public void The_gpu_overlay_gives_each_silo_its_gpus_and_the_silo_offers_exactly_that_many()
    {
        var silos = Silos("overlays/gpu");
        var silo = Silo("overlays/gpu");
        var limit = silo.Resources.Limits["nvidia.com/gpu"];
        Assert.True(limit.ToInt32() >= 1);
        // Extended resources: the request, if given, must equal the limit.
        if (silo.Resources.Requests?.TryGetValue("nvidia.com/gpu", out var request) == true) Assert.Equal(limit.ToInt32(), request.ToInt32());
        // The silo refuses to start unless it sees exactly this many CUDA devices (DevicePlan).
        Assert.Equal($"{limit.ToInt32()}", Env(silo, "Descent__Devices__Gpus"));
        Assert.Null(Env(silo, "Descent__Devices__UseCuda"));
        Assert.Null(Env(silo, "Descent__Devices__TrialsPerDevice")); // default 1: one trial per GPU
        Assert.Equal("descent-silo:cuda", silo.Image);
        var pod = silos.Spec.Template.Spec;
        Assert.Equal("true", pod.NodeSelector["nvidia.com/gpu.present"]);
        Assert.Contains(pod.Tolerations, t => t.Key == "nvidia.com/gpu" && t.OperatorProperty == "Exists" && t.Effect == "NoSchedule");

        var cpu = Silo("overlays/cpu");
        Assert.Equal("descent-silo:cpu", cpu.Image);
        Assert.DoesNotContain("nvidia.com/gpu", cpu.Resources.Limits.Keys);
        Assert.Null(Env(cpu, "Descent__Devices__Gpus"));
        Assert.Null(Silos("overlays/cpu").Spec.Template.Spec.Tolerations);
    }

    [Fact]
    public void The_gpu_count_is_set_in_one_place_and_the_silo_setting_follows_it()
    {
        // A copy of deploy/k8s whose GPU limit is changed where README says to change it, and nowhere else.
        var copy = Directory.CreateTempSubdirectory("descent-k8s-").FullName;
        try
        {
            foreach (var file in Directory.EnumerateFiles(Manifests.K8s, "*.yaml", SearchOption.AllDirectories)
                         .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}node_modules{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
            {
                var target = Path.Combine(copy, Path.GetRelativePath(Manifests.K8s, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
            var patch = Path.Combine(copy, "overlays", "gpu", "gpu-silo.yaml");
            File.WriteAllText(patch, Replace(File.ReadAllText(patch), "nvidia.com/gpu: \"1\"", "nvidia.com/gpu: \"3\""));
            var (exit, yaml, error) = Manifests.Run("kubectl", ["kustomize", Path.Combine(copy, "overlays", "gpu")], null, copy);
            Assert.True(exit == 0, error);
            var silo = Manifests.LoadStrict(yaml).OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "descent-silo")
                .Spec.Template.Spec.Containers.Single(c => c.Name == "silo");
            Assert.Equal(3, silo.Resources.Limits["nvidia.com/gpu"].ToInt32());
            Assert.Equal("3", Env(silo, "Descent__Devices__Gpus"));
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void The_probes_ask_the_silos_health_endpoint_where_the_silo_serves_it(string overlay)
    {
        var silo = Silo(overlay);
        var port = int.Parse(Env(silo, "Descent__Health__Port")!);
        int PortOf(IntOrString target) =>
            int.TryParse(target.Value, out var number) ? number : silo.Ports.Single(p => p.Name == target.Value).ContainerPort;
        foreach (var (probe, path) in new[] { (silo.StartupProbe, SiloHealth.StartupPath), (silo.ReadinessProbe, SiloHealth.ReadyPath), (silo.LivenessProbe, SiloHealth.LivePath) })
        {
            Assert.NotNull(probe);
            Assert.Equal(path, probe.HttpGet.Path);
            Assert.Equal(port, PortOf(probe.HttpGet.Port));
        }
        // The timeouts HealthProbeTests holds the endpoint to while every device trains.
        Assert.Equal(HealthProbeTests.ReadyTimeout.TotalSeconds, silo.ReadinessProbe.TimeoutSeconds ?? 1);
        Assert.Equal(HealthProbeTests.LiveTimeout.TotalSeconds, silo.LivenessProbe.TimeoutSeconds ?? 1);
        // Joining may take a while after a crash (stale membership rows): the startup probe allows a minute or more.
        Assert.True((silo.StartupProbe.PeriodSeconds ?? 10) * (silo.StartupProbe.FailureThreshold ?? 3) >= 60);
        // The kubelet reaches the pod's IP: the silo listens there (POD_IP) or everywhere.
        Assert.Contains(silo.Env, e => e.Name == KubernetesHostingOptions.PodIPEnvironmentVariable);
    }

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void The_silos_service_account_may_do_what_orleans_kubernetes_hosting_does(string overlay)
    {
        var silos = Silos(overlay);
        var account = silos.Spec.Template.Spec.ServiceAccountName;
        Assert.Equal(account, One<V1ServiceAccount>(overlay, account).Metadata.Name);
        var binding = Objects(overlay).OfType<V1RoleBinding>().Single(b => b.Subjects.Any(s => s.Kind == "ServiceAccount" && s.Name == account));
        Assert.Equal("Role", binding.RoleRef.Kind);
        var role = One<V1Role>(overlay, binding.RoleRef.Name);
        var pods = role.Rules.Where(r => r.ApiGroups.Contains("") && r.Resources.Contains("pods")).SelectMany(r => r.Verbs).ToHashSet();
        // Read and label its own pod, list and watch the cluster's pods.
        Assert.Superset(new HashSet<string> { "get", "list", "watch", "patch" }, pods);
        // Deleting the pods of dead silos, exactly when the silo is told to.
        var deletes = bool.Parse(Env(Silo(overlay), "Descent__Kubernetes__DeleteDefunctSiloPods") ?? "false");
        Assert.Equal(deletes, pods.Contains("delete"));
        // Nothing else: no other resources, no wildcard.
        Assert.All(role.Rules, r => Assert.Equal(["pods"], r.Resources));
        Assert.DoesNotContain("*", pods);
    }

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void The_silo_gets_its_pod_from_the_downward_api_and_its_labels_name_the_cluster(string overlay)
    {
        var silos = Silos(overlay);
        var silo = Silo(overlay);
        string? Field(string name) => silo.Env.SingleOrDefault(e => e.Name == name)?.ValueFrom?.FieldRef?.FieldPath;
        Assert.Equal("metadata.name", Field(KubernetesHostingOptions.PodNameEnvironmentVariable));
        Assert.Equal("metadata.namespace", Field(KubernetesHostingOptions.PodNamespaceEnvironmentVariable));
        Assert.Equal("status.podIP", Field(KubernetesHostingOptions.PodIPEnvironmentVariable));
        Assert.Equal($"metadata.labels['{KubernetesHostingOptions.ServiceIdLabel}']", Field(KubernetesHostingOptions.ServiceIdEnvironmentVariable));
        Assert.Equal($"metadata.labels['{KubernetesHostingOptions.ClusterIdLabel}']", Field(KubernetesHostingOptions.ClusterIdEnvironmentVariable));
        var labels = silos.Spec.Template.Metadata.Labels;
        Assert.False(string.IsNullOrEmpty(labels[KubernetesHostingOptions.ServiceIdLabel]));
        Assert.False(string.IsNullOrEmpty(labels[KubernetesHostingOptions.ClusterIdLabel]));

        // The container's settings, with the values the kubelet would give, are a silo that starts in a pod: the
        // same validator and decision as descent-silo's.
        var environment = silo.Env.ToDictionary(e => e.Name, e => e.Value ?? e.ValueFrom.FieldRef.FieldPath switch
        {
            "metadata.name" => $"{silos.Metadata.Name}-0",
            "metadata.namespace" => silos.Metadata.NamespaceProperty,
            "status.podIP" => "10.244.3.9",
            var path => labels[Regex.Match(path, @"^metadata\.labels\['(.+)'\]$").Groups[1].Value],
        });
        environment["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
        var configuration = Settings(environment);
        var options = configuration.GetSection("Descent").Get<DescentSiloOptions>()!;
        Assert.Empty(new DescentSiloOptionsValidator().Validate(Options.DefaultName, options).Failures ?? []);
        // The kubelet mounts the service account token unless the pod says otherwise.
        var token = silos.Spec.Template.Spec.AutomountServiceAccountToken != false;
        var (pod, problems) = KubernetesHosting.Decide(configuration, name => environment.GetValueOrDefault(name), path => token && path == KubernetesHosting.TokenPath);
        Assert.Empty(problems);
        Assert.Equal((labels[KubernetesHostingOptions.ClusterIdLabel], labels[KubernetesHostingOptions.ServiceIdLabel]), (pod!.ClusterId, pod.ServiceId));
        Assert.Equal("redis", options.Clustering);
        Assert.Equal("redis", options.Storage);
        Assert.Equal("redis", options.Reminders);
        // Its Redis is the base's Redis Service.
        var redis = new Uri(options.Redis!);
        var service = One<V1Service>(overlay, redis.Host);
        Assert.Contains(service.Spec.Ports, p => p.Port == redis.Port);
    }

    /// <summary>The configuration a container's environment gives .NET (Descent__X__Y is Descent:X:Y).</summary>
    static IConfiguration Settings(IEnumerable<KeyValuePair<string, string>> environment) =>
        new ConfigurationBuilder().AddInMemoryCollection(environment
            .Where(e => e.Key.StartsWith("Descent__", StringComparison.Ordinal))
            .Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value))).Build();

    /// <summary>The settings the silo container's literal environment gives descent-silo (its defaults where unset).</summary>
    static DescentSiloOptions SiloSettings(string overlay) =>
        Settings(Silo(overlay).Env.Where(e => e.Value is not null).Select(e => KeyValuePair.Create(e.Name, e.Value)))
            .GetSection("Descent").Get<DescentSiloOptions>() ?? new DescentSiloOptions();

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void A_stopping_silo_has_longer_than_its_trials_hand_back(string overlay)
    {
        var grace = Silos(overlay).Spec.Template.Spec.TerminationGracePeriodSeconds;
        Assert.NotNull(grace);
        // The host waits SiloHosting.ShutdownTimeout for running trials to hand themselves back; the kubelet's
        // SIGKILL must come later, with time for the spans to be flushed.
        Assert.True(TimeSpan.FromSeconds(grace.Value) >= SiloHosting.ShutdownTimeout + TimeSpan.FromSeconds(15),
            $"terminationGracePeriodSeconds = {grace}, the hand-back may take {SiloHosting.ShutdownTimeout.TotalSeconds} s");
        // Voluntary disruptions take one silo at a time.
        var budget = One<V1PodDisruptionBudget>(overlay, "descent-silo");
        Assert.Equal("1", budget.Spec.MaxUnavailable?.Value);
        Assert.Equal(Silos(overlay).Spec.Selector.MatchLabels, budget.Spec.Selector.MatchLabels);
        // Scaling starts and stops several silos at once.
        Assert.Equal("Parallel", Silos(overlay).Spec.PodManagementPolicy);
    }

    [Fact]
    public void Redis_keeps_an_append_only_file_on_its_volume_and_never_evicts_a_key()
    {
        var redis = One<V1StatefulSet>("overlays/cpu", "redis");
        var container = redis.Spec.Template.Spec.Containers.Single();
        var args = container.Args.ToList();
        string Arg(string name)
        {
            var at = args.IndexOf(name);
            Assert.True(at >= 0 && at + 1 < args.Count, $"redis-server is not given {name}: {string.Join(' ', args)}");
            return args[at + 1];
        }
        Assert.Equal("yes", Arg("--appendonly"));
        // Every acknowledged write is on disk: a grain told its state was written never finds it gone after a crash.
        Assert.Equal("always", Arg("--appendfsync"));
        var dir = Arg("--dir");
        var claim = Assert.Single(redis.Spec.VolumeClaimTemplates);
        Assert.Contains(container.VolumeMounts, m => m.Name == claim.Metadata.Name && m.MountPath == dir);
        Assert.Equal(["ReadWriteOnce"], claim.Spec.AccessModes);

        // Full, Redis refuses writes (an error the grain sees) rather than evicting sweep state or being OOM-killed:
        // its data stays under the container's limit with room for the fork that rewrites the append-only file.
        Assert.Equal("noeviction", Arg("--maxmemory-policy"));
        var maxmemory = RedisBytes(Arg("--maxmemory"));
        var limit = container.Resources.Limits["memory"].ToInt64();
        Assert.True(maxmemory > 0 && maxmemory <= limit * 0.8,
            $"--maxmemory {Arg("--maxmemory")} ({maxmemory} bytes) must be above 0 and at most 80% of the memory limit ({limit} bytes)");
    }

    /// <summary>A redis-server memory size: bytes, or a number with k, kb, m, mb, g or gb (k = 1000, kb = 1024, ...).</summary>
    static long RedisBytes(string size)
    {
        var match = Regex.Match(size, @"^(\d+)(k|kb|m|mb|g|gb)?$", RegexOptions.IgnoreCase);
        Assert.True(match.Success, $"not a redis memory size: \"{size}\"");
        var unit = match.Groups[2].Value.ToLowerInvariant() switch
        {
            "" => 1L, "k" => 1000L, "kb" => 1024L, "m" => 1000_000L, "mb" => 1L << 20, "g" => 1000_000_000L, _ => 1L << 30,
        };
        return long.Parse(match.Groups[1].Value) * unit;
    }

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void Every_statefulset_is_governed_by_a_headless_service_of_its_pods(string overlay)
    {
        var sets = Objects(overlay).OfType<V1StatefulSet>().ToList();
        Assert.Equal(["descent-silo", "redis"], sets.Select(s => s.Metadata.Name).Order());
        foreach (var set in sets)
        {
            var service = Objects(overlay).OfType<V1Service>().SingleOrDefault(s => s.Metadata.Name == set.Spec.ServiceName);
            Assert.True(service is not null, $"StatefulSet/{set.Metadata.Name}: serviceName {set.Spec.ServiceName} names no Service");
            // Headless: the pods get their DNS names (pod.service); a ClusterIP Service gives them none.
            Assert.True(service.Spec.ClusterIP == "None",
                $"StatefulSet/{set.Metadata.Name}: its Service {service.Metadata.Name} is not headless (clusterIP: {service.Spec.ClusterIP ?? "unset"}, not None)");
            Assert.All(service.Spec.Selector, l => Assert.Equal(l.Value, set.Spec.Template.Metadata.Labels[l.Key]));
        }
    }

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void The_network_policies_admit_what_each_pod_must_reach_and_no_other_pod(string overlay) =>
        Assert.Empty(NetworkProblems(Objects(overlay), Objects("sweep")));

    [Fact]
    public void The_network_policy_check_names_a_policy_that_disagrees_with_the_workloads()
    {
        var yaml = Manifests.Render("overlays/cpu");
        var sweep = Objects("sweep");
        // The policy admits another silo port than the silos listen on, another probe port than the kubelet asks.
        Assert.Contains("descent-silo -> descent-silo: silo port 11111 not admitted",
            NetworkProblems(Manifests.LoadStrict(Replace(yaml, "- port: 11111", "- port: 11112")), sweep));
        Assert.Contains("kubelet -> descent-silo: health port 8080 not admitted",
            NetworkProblems(Manifests.LoadStrict(Replace(yaml, "- port: 8080", "- port: 8081")), sweep));
        // The silos told to listen elsewhere than the policy (and their container ports) say.
        var moved = Replace(yaml, "- name: Descent__Storage", "- name: Descent__GatewayPort\n          value: \"30001\"\n        - name: Descent__Storage");
        Assert.Contains("descent-silo: gateway port 30001 (Descent:GatewayPort) is not a containerPort", NetworkProblems(Manifests.LoadStrict(moved), sweep));
        Assert.Contains("descent-sweep -> descent-silo: gateway port 30001 not admitted", NetworkProblems(Manifests.LoadStrict(moved), sweep));
        // A policy that admits every pod lets strangers in.
        var open = Regex.Replace(yaml, @"  - from:\n    - podSelector:\n        matchLabels:\n          app.kubernetes.io/part-of: descent\n    ports:\n    - port: 6379\n",
            "  - ports:\n    - port: 6379\n");
        Assert.NotEqual(yaml, open);
        Assert.Contains("a pod outside Descent -> redis: redis port 6379 admitted", NetworkProblems(Manifests.LoadStrict(open), sweep));
    }

    /// <summary>What the NetworkPolicies of <paramref name="objects"/> get wrong, derived from the workloads: the ports
    /// the silo listens on (its settings, which its container must declare, and its probes), the Redis port behind the
    /// address silos and the sweep Job are given, and which pods must reach them; empty when nothing.</summary>
    static List<string> NetworkProblems(List<object> objects, List<object> sweep)
    {
        var problems = new List<string>();
        var silos = objects.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "descent-silo").Spec.Template;
        var redis = objects.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "redis").Spec.Template;
        var job = sweep.OfType<V1Job>().Single().Spec.Template;
        var silo = silos.Spec.Containers.Single(c => c.Name == "silo");
        var settings = Settings(silo.Env.Where(e => e.Value is not null).Select(e => KeyValuePair.Create(e.Name, e.Value)))
            .GetSection("Descent").Get<DescentSiloOptions>() ?? new DescentSiloOptions();

        // The ports the silo listens on, each declared by its container.
        var ports = new List<(string Name, int Port)> { ("silo", settings.SiloPort), ("gateway", settings.GatewayPort) };
        foreach (var probe in new[] { silo.StartupProbe, silo.ReadinessProbe, silo.LivenessProbe }.Where(p => p?.HttpGet is not null))
            ports.Add(("health", PortOf(probe.HttpGet.Port, silos) ?? -1));
        if (settings.Health.Port is not { } health) problems.Add("descent-silo: Descent:Health:Port unset, no probe endpoint");
        else if (ports.Any(p => p.Name == "health" && p.Port != health)) problems.Add($"descent-silo: a probe asks another port than Descent:Health:Port {health}");
        foreach (var (name, port) in ports.Distinct())
            if (!silo.Ports.Any(p => p.ContainerPort == port))
                problems.Add($"descent-silo: {name} port {port} ({(name == "health" ? "its probes" : $"Descent:{char.ToUpperInvariant(name[0])}{name[1..]}Port")}) is not a containerPort");

        // Redis' port behind the addresses the silos and the Job use: Service port -> targetPort -> the pod's port.
        int? RedisPort(string address)
        {
            var uri = new Uri(address);
            var port = objects.OfType<V1Service>().SingleOrDefault(s => s.Metadata.Name == uri.Host)?.Spec.Ports.SingleOrDefault(p => p.Port == uri.Port);
            return port is null ? null : TargetOf(port, redis);
        }
        var args = job.Spec.Containers.Single().Args.ToList();
        var stranger = new Dictionary<string, string> { ["app.kubernetes.io/name"] = "stranger" };
        var silosPort = settings.SiloPort;
        var gatewayPort = settings.GatewayPort;
        var healthPort = settings.Health.Port ?? -1;
        var checks = new List<(string From, IDictionary<string, string>? Labels, string To, V1PodTemplateSpec Target, string What, int? Port, bool Admitted)>
        {
            ("descent-silo", silos.Metadata.Labels, "descent-silo", silos, "silo", silosPort, true),
            ("descent-silo", silos.Metadata.Labels, "descent-silo", silos, "gateway", gatewayPort, true),
            ("descent-sweep", job.Metadata.Labels, "descent-silo", silos, "gateway", gatewayPort, true),
            ("kubelet", null, "descent-silo", silos, "health", healthPort, true),
            ("descent-silo", silos.Metadata.Labels, "redis", redis, "redis", RedisPort(settings.Redis!), true),
            ("descent-sweep", job.Metadata.Labels, "redis", redis, "redis", RedisPort(args[args.IndexOf("--cluster") + 1]), true),
            ("a pod outside Descent", stranger, "descent-silo", silos, "silo", silosPort, false),
            ("a pod outside Descent", stranger, "descent-silo", silos, "gateway", gatewayPort, false),
            ("outside the cluster", null, "descent-silo", silos, "gateway", gatewayPort, false),
            ("a pod outside Descent", stranger, "redis", redis, "redis", RedisPort(settings.Redis!), false),
        };
        foreach (var c in checks)
        {
            if (c.Port is not { } port) problems.Add($"{c.From} -> {c.To}: its {c.What} address leads to no port of the pod");
            else if (Admits(objects, c.Target, c.Labels, port) != c.Admitted)
                problems.Add($"{c.From} -> {c.To}: {c.What} port {port} {(c.Admitted ? "not admitted" : "admitted")}");
        }
        return problems;
    }

    /// <summary>Whether the NetworkPolicies among <paramref name="objects"/> let a TCP connection to <paramref name="port"/>
    /// of a pod of <paramref name="target"/> in, from a pod of its namespace labelled <paramref name="from"/>, or (null)
    /// from no pod (the kubelet's probes, a client outside the cluster). Pods no policy selects take everything.</summary>
    static bool Admits(IEnumerable<object> objects, V1PodTemplateSpec target, IDictionary<string, string>? from, int port)
    {
        var policies = objects.OfType<V1NetworkPolicy>()
            .Where(p => Selects(p.Spec.PodSelector, target.Metadata.Labels) && (p.Spec.PolicyTypes?.Contains("Ingress") ?? true)).ToList();
        if (policies.Count == 0) return true;
        return policies.SelectMany(p => p.Spec.Ingress ?? []).Any(rule =>
            (rule.Ports is not { Count: > 0 } || rule.Ports.Any(p => (p.Protocol ?? "TCP") == "TCP"
                && (p.Port is null || PortOf(p.Port, target) is { } first && (port == first || p.EndPort is { } end && port >= first && port <= end))))
            && (rule.FromProperty is not { Count: > 0 } || from is not null && rule.FromProperty.Any(peer =>
                peer.IpBlock is null && peer.NamespaceSelector is null && peer.PodSelector is not null && Selects(peer.PodSelector, from))));
    }

    static bool Selects(V1LabelSelector selector, IDictionary<string, string> labels)
    {
        Assert.True(selector.MatchExpressions is not { Count: > 0 }, "a selector with matchExpressions: this check reads matchLabels only");
        return (selector.MatchLabels ?? new Dictionary<string, string>()).All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value);
    }

    /// <summary>A port of a pod: a number, or the name of a containerPort of <paramref name="pod"/>; null when no container
    /// has that name.</summary>
    static int? PortOf(IntOrString port, V1PodTemplateSpec pod) => int.TryParse(port.Value, out var number) ? number
        : pod.Spec.Containers.SelectMany(c => c.Ports ?? []).SingleOrDefault(p => p.Name == port.Value)?.ContainerPort;

    /// <summary>The pod's port a Service port forwards to: its targetPort, else its own number.</summary>
    static int? TargetOf(V1ServicePort port, V1PodTemplateSpec pod) => port.TargetPort is { } target ? PortOf(target, pod) : port.Port;

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void Every_service_port_leads_to_a_port_of_the_pods_it_selects(string overlay)
    {
        var templates = Objects(overlay).Select(o => o switch
        {
            V1StatefulSet s => (s.Metadata.Name, s.Spec.Template),
            V1Deployment d => (d.Metadata.Name, d.Spec.Template),
            _ => default,
        }).Where(w => w.Name is not null).ToList();
        var services = Objects(overlay).OfType<V1Service>().ToList();
        Assert.Contains(services, s => s.Metadata.Name == "jaeger");
        foreach (var service in services)
        {
            var selected = templates.Where(w => service.Spec.Selector.All(l => w.Template.Metadata.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
            Assert.True(selected.Count > 0, $"Service/{service.Metadata.Name} selects no pods");
            foreach (var (name, template) in selected)
                foreach (var port in service.Spec.Ports)
                {
                    var target = TargetOf(port, template);
                    Assert.True(target is { } t && template.Spec.Containers.SelectMany(c => c.Ports ?? []).Any(p => p.ContainerPort == t),
                        $"Service/{service.Metadata.Name} port {port.Name} (targetPort {port.TargetPort?.Value ?? $"{port.Port}"}) is no containerPort of {name}");
                }
        }
    }

    [Theory]
    [InlineData("overlays/cpu")]
    [InlineData("overlays/gpu")]
    public void The_sweep_job_names_the_silos_cluster_and_its_image_is_set_like_theirs(string overlay)
    {
        var client = One<V1Job>("sweep", "descent-sweep").Spec.Template.Spec.Containers.Single();
        var args = client.Args.ToList();
        string? Arg(string name) => args.IndexOf(name) is var at and >= 0 ? args[at + 1] : null;
        // The ids descent-client uses (the --cluster-id it is given, else its default) are the silos' labels, which
        // they join with: a client of other ids finds no gateway.
        var target = ClusterTarget.From(Arg("--cluster"), Arg("--cluster-id") ?? "no --cluster-id in the Job", null, false);
        var labels = Silos(overlay).Spec.Template.Metadata.Labels;
        Assert.Equal(labels[KubernetesHostingOptions.ClusterIdLabel], target.ClusterId);
        Assert.Equal(labels[KubernetesHostingOptions.ServiceIdLabel], target.ServiceId);
        Assert.Null(client.Env?.SingleOrDefault(e => e.Name == ClusterTarget.ClusterIdVariable));
        // Both images are set by their kustomization's images: (a tag), from the same registry.
        static (string Registry, string Name, string Tag) Parts(string image)
        {
            var match = Regex.Match(image, @"^(?:(?<registry>.+)/)?(?<name>[^/:@]+)(?::(?<tag>[^/:@]+))?$");
            Assert.True(match.Success && match.Groups["tag"].Success, $"image {image}: no tag (not set by the kustomization's images:)");
            return (match.Groups["registry"].Value, match.Groups["name"].Value, match.Groups["tag"].Value);
        }
        var (clientRegistry, clientName, _) = Parts(client.Image);
        var (siloRegistry, siloName, _) = Parts(Silo(overlay).Image);
        Assert.Equal(("descent-client", "descent-silo"), (clientName, siloName));
        Assert.Equal(siloRegistry, clientRegistry);
    }

    [Fact]
    public void The_gateway_service_and_the_tracing_endpoint_reach_real_ports()
    {
        var silo = Silo("overlays/cpu");
        var gateway = One<V1Service>("overlays/cpu", "descent-gateway");
        var port = Assert.Single(gateway.Spec.Ports);
        Assert.Equal(30000, silo.Ports.Single(p => p.Name == port.TargetPort.Value).ContainerPort);
        Assert.Equal(Silos("overlays/cpu").Spec.Selector.MatchLabels, gateway.Spec.Selector);
        var otlp = new Uri(Env(silo, "OTEL_EXPORTER_OTLP_ENDPOINT")!);
        Assert.Equal("http/protobuf", Env(silo, "OTEL_EXPORTER_OTLP_PROTOCOL"));
        Assert.Contains(One<V1Service>("overlays/cpu", otlp.Host).Spec.Ports, p => p.Port == otlp.Port);
    }

    [Fact]
    public void The_sweep_job_runs_the_client_on_the_clusters_redis_with_its_grid_and_results_volume()
    {
        var job = One<V1Job>("sweep", "descent-sweep");
        var pod = job.Spec.Template.Spec;
        var client = pod.Containers.Single();
        var args = client.Args.ToList();
        Assert.Equal("sweep", args[0]);
        Assert.Equal("Never", pod.RestartPolicy);
        // --cluster names the base's Redis Service.
        var cluster = new Uri(args[args.IndexOf("--cluster") + 1]);
        Assert.Equal("redis", cluster.Scheme);
        Assert.Contains(One<V1Service>("overlays/cpu", cluster.Host).Spec.Ports, p => p.Port == cluster.Port);
        // The grid is a file of the mounted ConfigMap, and a grid descent-client accepts.
        var grid = args[1];
        var gridMount = client.VolumeMounts.Single(m => grid.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        var configMapName = pod.Volumes.Single(v => v.Name == gridMount.Name).ConfigMap.Name;
        var configMap = One<V1ConfigMap>("sweep", configMapName);
        var text = configMap.Data[Path.GetFileName(grid)];
        var plan = GridFile.Parse(Encoding.UTF8.GetBytes(text), grid, "/");
        Assert.NotEmpty(plan.Trials);
        // Results go to the persistent volume.
        var output = args[args.IndexOf("--out") + 1];
        var resultsMount = client.VolumeMounts.Single(m => m.MountPath == output);
        var claim = pod.Volumes.Single(v => v.Name == resultsMount.Name).PersistentVolumeClaim.ClaimName;
        Assert.Equal(claim, One<V1PersistentVolumeClaim>("sweep", claim).Metadata.Name);
        // The client runs as the image's non-root user and must be able to write there.
        Assert.Equal(1654, pod.SecurityContext.FsGroup);
        // Its pods may reach Redis and the gateways past the network policies.
        Assert.Equal("descent", job.Spec.Template.Metadata.Labels["app.kubernetes.io/part-of"]);
        // An evicted pod (a drained node) leaves its sweep running, and the Job's next pod re-attaches to it: the same
        // grid under the same id, the Job's uid, set from the label the Job controller gives each of its pods (the
        // kubelet expands $(SWEEP_ID) in args). Before, SIGTERM cancelled the sweep and the Job did not retry.
        Assert.Contains("--detach-on-sigterm", args);
        Assert.Equal("$(SWEEP_ID)", args[args.IndexOf("--sweep-id") + 1]);
        Assert.Equal("metadata.labels['batch.kubernetes.io/controller-uid']",
            client.Env.Single(e => e.Name == "SWEEP_ID").ValueFrom.FieldRef.FieldPath);
        Assert.True(job.Spec.BackoffLimit > 0, $"backoffLimit {job.Spec.BackoffLimit}: an evicted pod's sweep is never re-attached to");
        Assert.Equal("false", job.Spec.Template.Metadata.Annotations?["cluster-autoscaler.kubernetes.io/safe-to-evict"]);
    }
}
