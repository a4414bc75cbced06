using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting.Kubernetes;

namespace Descent.Silo;

/// <summary>Section <c>Descent:Kubernetes</c>: Orleans' Kubernetes hosting (<c>UseKubernetesHosting</c>) for a silo
/// in a pod.</summary>
public sealed class KubernetesSettings
{
    /// <summary>Use Kubernetes hosting when this process runs in a pod (<c>KUBERNETES_SERVICE_HOST</c> set); false:
    /// never. Outside a pod it is never used, whatever this says.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Delete the pods of silos the cluster declared dead (Orleans' <c>DeleteDefunctSiloPods</c>), so that
    /// their StatefulSet starts them again; needs the <c>delete</c> verb on pods in the silo's Role.</summary>
    public bool DeleteDefunctSiloPods { get; set; }
}

/// <summary>The pod a silo runs in, as its downward-API variables describe it.</summary>
/// <param name="Name">POD_NAME: the silo's name in the membership table, matched against pods by Orleans' agent.</param>
/// <param name="Namespace">POD_NAMESPACE: where the agent lists, watches and patches the cluster's pods.</param>
/// <param name="Address">POD_IP: the address the silo advertises unless <c>Descent:AdvertisedAddress</c> is set.</param>
/// <param name="ClusterId">ORLEANS_CLUSTER_ID (the pod's label <c>orleans/clusterId</c>), or <c>Descent:ClusterId</c>.</param>
/// <param name="ServiceId">ORLEANS_SERVICE_ID (the pod's label <c>orleans/serviceId</c>), or <c>Descent:ServiceId</c>.</param>
public sealed record PodIdentity(string Name, string Namespace, IPAddress Address, string ClusterId, string ServiceId);

/// <summary>Whether a silo uses Kubernetes hosting, decided from its configuration and environment only (a pure
/// function: <see cref="Decide"/>), and the services that do it.</summary>
public static class KubernetesHosting
{
    /// <summary>Set by the kubelet in every container of a pod: the one sign that this process runs in Kubernetes.</summary>
    public const string ServiceHostVariable = "KUBERNETES_SERVICE_HOST";

    /// <summary>Where the kubelet mounts the pod's service account token, which Orleans' Kubernetes agent reads to talk
    /// to the API server (absent when the pod sets <c>automountServiceAccountToken: false</c>).</summary>
    public const string TokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    const string Section = $"{DescentSiloOptions.Section}:{nameof(DescentSiloOptions.Kubernetes)}";

    /// <summary>The pod to host the silo in, or null (outside a pod, or <c>Descent:Kubernetes:Enabled=false</c>),
    /// and every problem with it, each naming the variable or setting and its value: a missing or invalid
    /// POD_NAME, POD_NAMESPACE or POD_IP, clustering that is not shared between pods (<c>localhost</c>), or
    /// <c>Descent:ClusterId</c>/<c>ServiceId</c> set to other ids than the pod's labels, or no service account token at
    /// <see cref="TokenPath"/>. <paramref name="configuration"/>: the host's configuration (section <c>Descent</c> is
    /// read); <paramref name="environment"/>: reads a variable; <paramref name="fileExists"/>: whether a file exists
    /// (<see cref="File.Exists"/> unless given: tests give a pod's files without having them).</summary>
    public static (PodIdentity? Pod, IReadOnlyList<string> Problems) Decide(IConfiguration configuration, Func<string, string?> environment,
        Func<string, bool>? fileExists = null)
    {
        if (string.IsNullOrEmpty(environment(ServiceHostVariable))) return (null, []);
        var section = configuration.GetSection(DescentSiloOptions.Section);
        var enabled = section.GetSection(nameof(DescentSiloOptions.Kubernetes))[nameof(KubernetesSettings.Enabled)];
        if (enabled is { Length: > 0 } && bool.TryParse(enabled, out var on) && !on) return (null, []);

        var problems = new List<string>();
        string Variable(string name)
        {
            var value = environment(name);
            if (string.IsNullOrWhiteSpace(value))
                problems.Add($"{name} = \"{value}\": a silo in a Kubernetes pod needs it from the downward API (or set {Section}:Enabled=false)");
            return value?.Trim() ?? "";
        }
        var name = Variable(KubernetesHostingOptions.PodNameEnvironmentVariable);
        var space = Variable(KubernetesHostingOptions.PodNamespaceEnvironmentVariable);
        var ip = Variable(KubernetesHostingOptions.PodIPEnvironmentVariable);
        IPAddress? address = null;
        if (ip.Length > 0 && !IPAddress.TryParse(ip, out address))
            problems.Add($"{KubernetesHostingOptions.PodIPEnvironmentVariable} = \"{ip}\": not an IP address (give it status.podIP)");

        // Orleans' agent reads it when the silo starts, and dies of an unhandled KubeConfigException without it.
        if (!(fileExists ?? File.Exists)(TokenPath))
            problems.Add($"Kubernetes hosting needs the pod's service account token at {TokenPath} (automountServiceAccountToken must not be false), "
                + $"or set {Section}:Enabled=false");

        var clustering = section[nameof(DescentSiloOptions.Clustering)] ?? new DescentSiloOptions().Clustering;
        if (clustering == "localhost")
            problems.Add($"{SiloProviders.Clustering.Key} = \"{clustering}\": silos in Kubernetes pods need a membership table they share: "
                + $"set it to redis (with Descent:Redis), or {Section}:Enabled=false");

        string Id(string setting, string variable, string label, string fallback)
        {
            var configured = section[setting];
            var labelled = environment(variable);
            if (string.IsNullOrWhiteSpace(labelled)) return configured ?? fallback;
            if (configured is not null && configured != labelled)
                problems.Add($"{DescentSiloOptions.Section}:{setting} = \"{configured}\": the pod's label {label} says \"{labelled}\" ({variable}); "
                    + "Orleans' Kubernetes agent finds the cluster's pods by that label: make them the same, or leave the setting unset");
            return labelled;
        }
        var defaults = new DescentSiloOptions();
        var clusterId = Id(nameof(DescentSiloOptions.ClusterId), KubernetesHostingOptions.ClusterIdEnvironmentVariable,
            KubernetesHostingOptions.ClusterIdLabel, defaults.ClusterId);
        var serviceId = Id(nameof(DescentSiloOptions.ServiceId), KubernetesHostingOptions.ServiceIdEnvironmentVariable,
            KubernetesHostingOptions.ServiceIdLabel, defaults.ServiceId);
        return (problems.Count == 0 ? new PodIdentity(name, space, address!, clusterId, serviceId) : null, problems);
    }

    /// <summary>Orleans' Kubernetes hosting for a silo in a pod (<see cref="Decide"/>): the silo is named after the pod, takes the
    /// pod's cluster and service ids, and its agent labels this pod, watches the cluster's pods (a deleted pod's
    /// silo is declared dead at once) and, with <see cref="KubernetesSettings.DeleteDefunctSiloPods"/>, deletes the
    /// pods of dead silos. Needs get, list, watch and patch on pods (and delete) through the pod's service account.</summary>
    public static void AddTo(ISiloBuilder silo)
    {
        silo.UseKubernetesHosting(options => options.Configure<IOptions<DescentSiloOptions>>((o, settings) =>
            o.DeleteDefunctSiloPods = settings.Value.Kubernetes.DeleteDefunctSiloPods));
    }

    /// <summary>Problems of <see cref="Decide"/> for the host's own configuration and environment, reported with
    /// the other settings' problems before the silo starts.</summary>
    internal sealed class Validator(IConfiguration configuration, Func<string, string?> environment, Func<string, bool>? fileExists)
        : IValidateOptions<DescentSiloOptions>
    {
        public ValidateOptionsResult Validate(string? name, DescentSiloOptions options) =>
            Decide(configuration, environment, fileExists).Problems is { Count: > 0 } problems
                ? ValidateOptionsResult.Fail(problems)
                : ValidateOptionsResult.Success;
    }
}
