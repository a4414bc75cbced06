using Descent.Grains.Devices;
using Descent.Grains.Telemetry;
using Microsoft.Extensions.Options;

namespace Descent.Silo;

/// <summary>The silo's settings: configuration section "Descent" (appsettings.json, environment variables such as
/// DESCENT__STORAGE or DESCENT__DEVICES__CPUSLOTS, or --Descent:Key=value), bound and validated by
/// <see cref="SiloHosting.AddDescentSilo"/>.</summary>
public sealed class DescentSiloOptions
{
    public const string Section = "Descent";

    /// <summary>How silos find each other: a name of <see cref="SiloProviders.Clustering"/>, "localhost" (one
    /// machine; the default).</summary>
    public string Clustering { get; set; } = "localhost";

    /// <summary>Where sweeps and leaderboards persist: a name of <see cref="SiloProviders.Storage"/>, "memory"
    /// (Orleans' in-memory storage, shared by the cluster, lost when it stops; the default), "process" (this
    /// process's memory: fast, for one-process clusters, lost with the process) or "local" (a folder of this machine,
    /// <see cref="StoragePath"/>, that survives the process: the client's embedded silo).</summary>
    public string Storage { get; set; } = "memory";

    /// <summary>The folder of "local" storage (<see cref="LocalGrainStorage"/>), as an absolute path; created when
    /// missing. One process at a time may use it.</summary>
    public string? StoragePath { get; set; }

    /// <summary>Where reminders are kept: a name of <see cref="SiloProviders.Reminders"/>, "memory" (Orleans'
    /// in-memory reminder table, lost when the cluster stops; the default).</summary>
    public string Reminders { get; set; } = "memory";

    public string ClusterId { get; set; } = "descent";
    public string ServiceId { get; set; } = "descent";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The primary silo's port for localhost clustering of several silos on one machine (null: this silo is the primary).</summary>
    public int? PrimarySiloPort { get; set; }

    /// <summary>Listen on every interface instead of loopback only (in a container, whose ports are published),
    /// still advertising loopback to localhost clustering.</summary>
    public bool ListenOnAllInterfaces { get; set; }

    /// <summary>Section Descent:Devices: CPU slots, trials per device, CUDA.</summary>
    public DeviceOptions Devices { get; set; } = new();

    /// <summary>Section Descent:Tracing: which steps of a trial get spans, the first <c>FirstSteps</c>, then every
    /// <c>EveryStep</c>-th.</summary>
    public TracingOptions Tracing { get; set; } = new();

    /// <summary>The folder under which CSV tasks' files must lie (symbolic links resolved); unset: this silo reads no
    /// task files. The client's embedded silo uses <c>/</c>.</summary>
    public string? DataRoot { get; set; }

    /// <summary>Section Descent:Leases: how long a trial's lease on a device lasts without a sign of life from its
    /// trainer (<c>Timeout</c>, default 00:00:30), and how often device workers renew (<c>RenewEvery</c>, 00:00:01).</summary>
    public Descent.Grains.Sweeps.LeaseOptions Leases { get; set; } = new();

    /// <summary>Export metrics over OTLP with the traces (when OTEL_EXPORTER_OTLP_ENDPOINT is set); off for a
    /// backend that keeps traces only, such as Jaeger.</summary>
    public bool ExportMetrics { get; set; } = true;
}

/// <summary>Every problem with a silo's settings, each naming the setting and its value
/// (<c>Descent:Devices:CpuSlots = 0: must be at least 1</c>): the one place their messages are written.</summary>
public sealed class DescentSiloOptionsValidator : IValidateOptions<DescentSiloOptions>
{
    const string Devices = $"{DescentSiloOptions.Section}:{nameof(DescentSiloOptions.Devices)}";
    const string Tracing = $"{DescentSiloOptions.Section}:{nameof(DescentSiloOptions.Tracing)}";

    public ValidateOptionsResult Validate(string? name, DescentSiloOptions options)
    {
        var problems = new List<string>();
        foreach (var (choice, value) in new[]
                 {
                     (SiloProviders.Clustering, options.Clustering), (SiloProviders.Storage, options.Storage),
                     (SiloProviders.Reminders, options.Reminders),
                 })
            if (choice.Problem(value) is { } problem) problems.Add(problem);
        foreach (var (key, id) in new[] { (nameof(options.ClusterId), options.ClusterId), (nameof(options.ServiceId), options.ServiceId) })
            if (string.IsNullOrWhiteSpace(id)) problems.Add($"{Key(key)} = \"{id}\": must not be empty");
        foreach (var (key, port) in new[]
                 {
                     (nameof(options.SiloPort), (int?)options.SiloPort), (nameof(options.GatewayPort), options.GatewayPort),
                     (nameof(options.PrimarySiloPort), options.PrimarySiloPort),
                 })
            if (port is { } p && (p < 1 || p > 65535)) problems.Add($"{Key(key)} = {p}: expected a port between 1 and 65535");
        var devices = options.Devices;
        if (devices.CpuSlots is < 1) problems.Add($"{Devices}:{nameof(devices.CpuSlots)} = {devices.CpuSlots}: must be at least 1");
        if (devices.TrialsPerDevice < 1) problems.Add($"{Devices}:{nameof(devices.TrialsPerDevice)} = {devices.TrialsPerDevice}: must be at least 1");
        var tracing = options.Tracing;
        if (tracing.FirstSteps < 0) problems.Add($"{Tracing}:{nameof(tracing.FirstSteps)} = {tracing.FirstSteps}: must be 0 or more");
        if (tracing.EveryStep < 0)
            problems.Add($"{Tracing}:{nameof(tracing.EveryStep)} = {tracing.EveryStep}: must be 0 or more (0: no step spans after the first ones)");
        problems.AddRange(options.Leases.Problems());
        if (options.Storage == "local")
        {
            var store = options.StoragePath;
            if (!(store is { Length: > 0 } && Path.IsPathFullyQualified(store)))
                problems.Add($"{Key(nameof(options.StoragePath))} = \"{store}\": {SiloProviders.Storage.Key} = \"local\" needs a folder, given as an absolute path");
            else if (File.Exists(store))
                problems.Add($"{Key(nameof(options.StoragePath))} = \"{store}\": is a file; local storage needs a folder (created when missing)");
        }
        if (options.DataRoot is { Length: > 0 } root && !(Path.IsPathFullyQualified(root) && Directory.Exists(root)))
            problems.Add($"{Key(nameof(options.DataRoot))} = \"{root}\": must be an existing folder, given as an absolute path");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    static string Key(string setting) => $"{DescentSiloOptions.Section}:{setting}";
}
