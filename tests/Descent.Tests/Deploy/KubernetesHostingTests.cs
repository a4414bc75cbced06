using System.Net;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Descent.Tests.Deploy;

/// <summary>When a silo uses Orleans' Kubernetes hosting: <see cref="KubernetesHosting.Decide"/>, a function of the
/// configuration and the environment only.</summary>
public class KubernetesHostingTests
{
    static readonly Dictionary<string, string?> InPod = new()
    {
        ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1",
        ["POD_NAME"] = "descent-silo-0",
        ["POD_NAMESPACE"] = "descent",
        ["POD_IP"] = "10.244.1.7",
        ["ORLEANS_SERVICE_ID"] = "descent",
        ["ORLEANS_CLUSTER_ID"] = "gpu-a",
    };

    static readonly Dictionary<string, string?> Redis = new() { ["Descent:Clustering"] = "redis", ["Descent:Redis"] = "redis://redis:6379" };

    /// <summary>The decision for <paramref name="settings"/> and <paramref name="environment"/> in a pod whose service
    /// account token is mounted unless <paramref name="token"/> is false.</summary>
    static (PodIdentity? Pod, IReadOnlyList<string> Problems) Decide(IDictionary<string, string?> settings, IDictionary<string, string?> environment,
        bool token = true) =>
        KubernetesHosting.Decide(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), name => environment.TryGetValue(name, out var v) ? v : null,
            path => token && path == KubernetesHosting.TokenPath);

    static Dictionary<string, string?> With(Dictionary<string, string?> map, params (string Key, string? Value)[] changes)
    {
        var copy = new Dictionary<string, string?>(map);
        foreach (var (key, value) in changes)
            if (value is null) copy.Remove(key); else copy[key] = value;
        return copy;
    }

    [Fact]
    public void Outside_a_pod_it_is_never_switched_on()
    {
        // Every pod variable but the one the kubelet sets: still not a pod, even with the setting on.
        var notAPod = With(InPod, ("KUBERNETES_SERVICE_HOST", null));
        Assert.Equal((null, []), Decide(With(Redis, ("Descent:Kubernetes:Enabled", "true")), notAPod));
        Assert.Equal((null, []), Decide(Redis, new Dictionary<string, string?>()));
        Assert.Equal((null, []), Decide(Redis, With(notAPod, ("KUBERNETES_SERVICE_HOST", ""))));
    }

    [Fact]
    public void In_a_pod_the_silo_takes_its_name_address_and_ids_from_the_downward_api()
    {
        var (pod, problems) = Decide(Redis, InPod);
        Assert.Empty(problems);
        Assert.Equal(new PodIdentity("descent-silo-0", "descent", IPAddress.Parse("10.244.1.7"), "gpu-a", "descent"), pod);
        // Without the label variables, the silo's own settings name the cluster.
        (pod, _) = Decide(With(Redis, ("Descent:ClusterId", "mine")), With(InPod, ("ORLEANS_CLUSTER_ID", null), ("ORLEANS_SERVICE_ID", null)));
        Assert.Equal(("mine", "descent"), (pod!.ClusterId, pod.ServiceId));
    }

    [Fact]
    public void A_pod_can_opt_out()
    {
        Assert.Equal((null, []), Decide(With(Redis, ("Descent:Kubernetes:Enabled", "false")), InPod));
        // Even where localhost clustering would be refused in a pod: the client's embedded silo in a sweep Job.
        Assert.Equal((null, []), Decide(new Dictionary<string, string?> { ["Descent:Kubernetes:Enabled"] = "False" }, InPod));
    }

    [Fact]
    public void Missing_or_bad_pod_variables_are_named_with_their_values()
    {
        var (pod, problems) = Decide(Redis, With(InPod, ("POD_NAME", null), ("POD_IP", "not-an-ip")));
        Assert.Null(pod);
        Assert.Equal([
            "POD_NAME = \"\": a silo in a Kubernetes pod needs it from the downward API (or set Descent:Kubernetes:Enabled=false)",
            "POD_IP = \"not-an-ip\": not an IP address (give it status.podIP)",
        ], problems);
        (_, problems) = Decide(Redis, With(InPod, ("POD_NAMESPACE", " ")));
        Assert.Equal(["POD_NAMESPACE = \" \": a silo in a Kubernetes pod needs it from the downward API (or set Descent:Kubernetes:Enabled=false)"], problems);
    }

    [Fact]
    public void A_pod_without_its_service_account_token_is_refused()
    {
        // Before, the silo started and died of Orleans' unhandled KubeConfigException (exit code 134).
        var (pod, problems) = Decide(Redis, InPod, token: false);
        Assert.Null(pod);
        Assert.Equal(["Kubernetes hosting needs the pod's service account token at /var/run/secrets/kubernetes.io/serviceaccount/token "
            + "(automountServiceAccountToken must not be false), or set Descent:Kubernetes:Enabled=false"], problems);
        // Outside a pod, or opted out, no token is needed.
        Assert.Equal((null, []), Decide(Redis, With(InPod, ("KUBERNETES_SERVICE_HOST", null)), token: false));
        Assert.Equal((null, []), Decide(With(Redis, ("Descent:Kubernetes:Enabled", "false")), InPod, token: false));
    }

    [Fact]
    public void Localhost_clustering_and_ids_other_than_the_pod_labels_are_refused_in_a_pod()
    {
        var (_, problems) = Decide(new Dictionary<string, string?>(), InPod);
        Assert.Equal(["Descent:Clustering = \"localhost\": silos in Kubernetes pods need a membership table they share: set it to redis (with Descent:Redis), or Descent:Kubernetes:Enabled=false"], problems);
        (_, problems) = Decide(With(Redis, ("Descent:ClusterId", "gpu-b"), ("Descent:ServiceId", "descent")), InPod);
        Assert.Equal(["Descent:ClusterId = \"gpu-b\": the pod's label orleans/clusterId says \"gpu-a\" (ORLEANS_CLUSTER_ID); Orleans' Kubernetes agent finds the cluster's pods by that label: make them the same, or leave the setting unset"], problems);
    }

    [Fact]
    public void The_validator_reports_the_decisions_problems_with_the_other_settings()
    {
        // The host's own environment here is not a pod: nothing to report, whatever the settings say.
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Descent:Kubernetes:Enabled"] = "true" });
        builder.AddDescentSilo();
        using var host = builder.Build();
        Assert.Empty(host.SettingsProblems());
    }
}

/// <summary>A silo host built with a pod's variables (given through <see cref="SiloHosting.AddDescentSilo(Microsoft.Extensions.Hosting.IHostApplicationBuilder, Func{string, string?})"/>,
/// not set on this process): Orleans' Kubernetes hosting is added and the silo takes the pod's address and ids. Not
/// started: no Kubernetes API server runs here.</summary>
public class KubernetesSiloHostTests
{
    static Microsoft.Extensions.Hosting.IHost Build(Dictionary<string, string?> settings, Dictionary<string, string?> environment, bool token = true)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddDescentSilo(name => environment.GetValueOrDefault(name), path => token && path == KubernetesHosting.TokenPath);
        return builder.Build();
    }

    static readonly Dictionary<string, string?> Pod = new()
    {
        ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1", ["POD_NAME"] = "descent-silo-3", ["POD_NAMESPACE"] = "descent", ["POD_IP"] = "10.244.1.7",
        ["ORLEANS_SERVICE_ID"] = "descent", ["ORLEANS_CLUSTER_ID"] = "gpu-a",
    };

    [Fact]
    public void In_a_pod_the_silo_uses_kubernetes_hosting_with_the_pods_address_and_ids()
    {
        using var host = Build(new() { ["Descent:Clustering"] = "redis", ["Descent:Redis"] = "redis://redis:6379", ["Descent:Kubernetes:DeleteDefunctSiloPods"] = "true" }, Pod);
        Assert.Empty(host.SettingsProblems());
        var services = host.Services;
        Assert.Equal("gpu-a", services.GetRequiredService<IOptions<Orleans.Configuration.ClusterOptions>>().Value.ClusterId);
        var endpoints = services.GetRequiredService<IOptions<Orleans.Configuration.EndpointOptions>>().Value;
        Assert.Equal(IPAddress.Parse("10.244.1.7"), endpoints.AdvertisedIPAddress);
        // Orleans' own configuration of these options reads the process's POD_* variables (which this test does not
        // set), and validating them would fail here: apply the configurations without validation.
        var kubernetes = new Orleans.Hosting.Kubernetes.KubernetesHostingOptions();
        foreach (var configure in services.GetServices<IConfigureOptions<Orleans.Hosting.Kubernetes.KubernetesHostingOptions>>()) configure.Configure(kubernetes);
        Assert.True(kubernetes.DeleteDefunctSiloPods);
        // (Resolving Orleans' agent would read the pod's service account token, which only a pod has.)
    }

    [Fact]
    public void Outside_a_pod_or_opted_out_the_silo_has_no_kubernetes_hosting()
    {
        foreach (var (settings, environment) in new[]
                 {
                     (new Dictionary<string, string?>(), new Dictionary<string, string?>(Pod) { ["KUBERNETES_SERVICE_HOST"] = null }),
                     (new Dictionary<string, string?> { ["Descent:Kubernetes:Enabled"] = "false" }, Pod),
                 })
        {
            using var host = Build(settings, environment);
            Assert.Empty(host.SettingsProblems());
            Assert.Null(host.Services.GetService<IConfigureOptions<Orleans.Hosting.Kubernetes.KubernetesHostingOptions>>());
            Assert.Equal("descent", host.Services.GetRequiredService<IOptions<Orleans.Configuration.ClusterOptions>>().Value.ClusterId);
            Assert.Equal(IPAddress.Loopback, host.Services.GetRequiredService<IOptions<Orleans.Configuration.EndpointOptions>>().Value.AdvertisedIPAddress);
        }
    }

    [Fact]
    public void A_pod_without_its_variables_is_refused_before_the_silo_starts()
    {
        using var host = Build(new() { ["Descent:Clustering"] = "redis", ["Descent:Redis"] = "redis://redis:6379" },
            new Dictionary<string, string?>(Pod) { ["POD_NAMESPACE"] = null });
        Assert.Equal(["POD_NAMESPACE = \"\": a silo in a Kubernetes pod needs it from the downward API (or set Descent:Kubernetes:Enabled=false)"],
            host.SettingsProblems());
    }

    [Fact]
    public void A_pod_without_its_service_account_token_is_refused_before_the_silo_starts()
    {
        using var host = Build(new() { ["Descent:Clustering"] = "redis", ["Descent:Redis"] = "redis://redis:6379" }, Pod, token: false);
        Assert.Equal(["Kubernetes hosting needs the pod's service account token at /var/run/secrets/kubernetes.io/serviceaccount/token "
            + "(automountServiceAccountToken must not be false), or set Descent:Kubernetes:Enabled=false"], host.SettingsProblems());
        Assert.Null(host.Services.GetService<IConfigureOptions<Orleans.Hosting.Kubernetes.KubernetesHostingOptions>>());
    }
}
