using Descent.Grains.Telemetry;
using Descent.Grains.Devices;
using Microsoft.Extensions.Configuration;

namespace Descent.Silo;

/// <summary>The silo's configuration section "Descent" (appsettings.json, or environment variables such as
/// DESCENT__CLUSTERING, DESCENT__DEVICES__CPUSLOTS).</summary>
public sealed class SiloSettings
{
    public const string Section = "Descent";

    /// <summary>How silos find each other: "localhost" (one machine; the default).</summary>
    public string Clustering { get; set; } = "localhost";

    /// <summary>Where sweeps and leaderboards persist: "memory" (Orleans' in-memory storage, shared by the cluster,
    /// lost when it stops; the default) or "process" (this process's memory: fast, for one-process clusters such
    /// as the client's embedded silo).</summary>
    public string Storage { get; set; } = "memory";

    public string ClusterId { get; set; } = "descent";
    public string ServiceId { get; set; } = "descent";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The primary silo's port for localhost clustering of several silos on one machine (null: this silo is the primary).</summary>
    public int? PrimarySiloPort { get; set; }

    /// <summary>Listen on every interface instead of loopback only (in a container, whose ports are published),
    /// still advertising loopback to localhost clustering.</summary>
    public bool ListenOnAllInterfaces { get; set; }

    public DeviceOptions Devices { get; set; } = new();

    /// <summary>Which steps of a trial get spans: the first <c>FirstSteps</c>, then every <c>EveryStep</c>-th.</summary>
    public TracingOptions Tracing { get; set; } = new();

    /// <summary>How long a trial's lease on a device lasts without renewal, and how often workers renew.</summary>
    public Descent.Grains.Sweeps.LeaseOptions Leases { get; set; } = new();

    /// <summary>Export metrics over OTLP with the traces (when OTEL_EXPORTER_OTLP_ENDPOINT is set); off for a
    /// backend that keeps traces only, such as Jaeger.</summary>
    public bool ExportMetrics { get; set; } = true;

    static readonly string[] Clusterings = ["localhost"];
    static readonly string[] Storages = ["memory", "process"];

    public static SiloSettings From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<SiloSettings>() ?? new SiloSettings();

    /// <summary>Every problem, each naming the setting and its value.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!Clusterings.Contains(Clustering))
            problems.Add($"Descent:Clustering = \"{Clustering}\": expected {string.Join(" or ", Clusterings)}");
        if (!Storages.Contains(Storage))
            problems.Add($"Descent:Storage = \"{Storage}\": expected {string.Join(" or ", Storages)}");
        foreach (var (name, port) in new[] { ("SiloPort", (int?)SiloPort), ("GatewayPort", GatewayPort), ("PrimarySiloPort", PrimarySiloPort) })
            if (port is { } p && (p < 1 || p > 65535)) problems.Add($"Descent:{name} = {p}: expected a port between 1 and 65535");
        if (Devices.CpuSlots is < 1) problems.Add($"Descent:Devices:CpuSlots = {Devices.CpuSlots}: must be at least 1");
        if (Tracing.FirstSteps < 0) problems.Add($"Descent:Tracing:FirstSteps = {Tracing.FirstSteps}: must be 0 or more");
        if (Tracing.EveryStep < 0) problems.Add($"Descent:Tracing:EveryStep = {Tracing.EveryStep}: must be 0 or more (0: no step spans after the first ones)");
        if (Devices.TrialsPerDevice < 1) problems.Add($"Descent:Devices:TrialsPerDevice = {Devices.TrialsPerDevice}: must be at least 1");
        problems.AddRange(Leases.Problems());
        return problems;
    }
}
