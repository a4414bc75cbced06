using System.Text;
using System.Text.RegularExpressions;
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
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(environment
            .Where(e => e.Key.StartsWith("Descent__", StringComparison.Ordinal))
            .Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value))).Build();
        var options = configuration.GetSection("Descent").Get<DescentSiloOptions>()!;
        Assert.Empty(new DescentSiloOptionsValidator().Validate(Options.DefaultName, options).Failures ?? []);
        var (pod, problems) = KubernetesHosting.Decide(configuration, name => environment.GetValueOrDefault(name));
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
    }
}
