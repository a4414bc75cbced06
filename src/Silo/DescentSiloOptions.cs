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
    /// machine; the default) or "redis" (a membership table in <see cref="Redis"/>: silos on many hosts).</summary>
    public string Clustering { get; set; } = "localhost";

    /// <summary>Where sweeps and leaderboards persist: a name of <see cref="SiloProviders.Storage"/>, "memory"
    /// (Orleans' in-memory storage, shared by the cluster, lost when it stops; the default), "process" (this
    /// process's memory: fast, for one-process clusters, lost with the process), "redis" (durable in
    /// <see cref="Redis"/>, in Descent's versioned state format) or "local" (a folder of this machine,
    /// <see cref="StoragePath"/>, that survives the process: the client's embedded silo).</summary>
    public string Storage { get; set; } = "memory";

    /// <summary>The folder of "local" storage (<see cref="LocalGrainStorage"/>), as an absolute path; created when
    /// missing. One process at a time may use it.</summary>
    public string? StoragePath { get; set; }

    /// <summary>Where reminders are kept: a name of <see cref="SiloProviders.Reminders"/>, "memory" (Orleans'
    /// in-memory reminder table, lost when the cluster stops; the default) or "redis".</summary>
    public string Reminders { get; set; } = "memory";

    /// <summary>The Redis that "redis" clustering, storage and reminders use: <c>redis://[:password@]host[:port]</c>
    /// or a StackExchange.Redis connection string (see <see cref="RedisAddress"/>).</summary>
    public string? Redis { get; set; }

    /// <summary>The address this silo gives other silos and clients (an IP address or a host name resolved at
    /// start). Default: loopback for localhost clustering; otherwise this host's first IPv4 address that is up and not
    /// loopback. The silo listens on this address only, unless <see cref="ListenOnAllInterfaces"/>.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>Section Descent:Membership: how fast a lost silo is declared dead (see <see cref="MembershipSettings"/>);
    /// any other property of Orleans' <c>ClusterMembershipOptions</c> may be set in the same section.</summary>
    public MembershipSettings Membership { get; set; } = new();

    public string ClusterId { get; set; } = "descent";
    public string ServiceId { get; set; } = "descent";
    public int SiloPort { get; set; } = 11111;
    /// <summary>The port clients connect to; 0: no gateway (the embedded silo, whose client is in its own process,
    /// opens none, so no other user of the machine can submit work to it).</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The primary silo's port for localhost clustering of several silos on one machine (null: this silo is the primary).</summary>
    public int? PrimarySiloPort { get; set; }

    /// <summary>Listen on every interface instead of the advertised address only (in a container whose ports are
    /// published), still advertising <see cref="AdvertisedAddress"/> (loopback for localhost clustering).</summary>
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
    /// trainer (<c>Timeout</c>, default 00:00:30), how often device workers renew (<c>RenewEvery</c>, 00:00:01), and how
    /// much work each slot holds ready behind its running trial (<c>Ahead</c>, 00:00:05 of its trials' mean length).</summary>
    public Descent.Grains.Sweeps.LeaseOptions Leases { get; set; } = new();

    /// <summary>Section Descent:Tls: TLS between silos and from clients (<see cref="SiloTlsOptions"/>); off by default.</summary>
    public SiloTlsOptions Tls { get; set; } = new();

    /// <summary>Section Descent:Kubernetes: Orleans' Kubernetes hosting in a pod (<see cref="KubernetesSettings"/>,
    /// decided by <see cref="KubernetesHosting.Decide"/>).</summary>
    public KubernetesSettings Kubernetes { get; set; } = new();

    /// <summary>Section Descent:Health: the probes' HTTP endpoint (<see cref="HealthSettings"/>, served by
    /// <see cref="SiloHealth"/>).</summary>
    public HealthSettings Health { get; set; } = new();

    /// <summary>Export metrics over OTLP with the traces (when OTEL_EXPORTER_OTLP_ENDPOINT is set); off for a
    /// backend that keeps traces only, such as Jaeger.</summary>
    public bool ExportMetrics { get; set; } = true;

    /// <summary>How long the silo waits at exit for its spans and metrics to reach the collector (a collector that
    /// does not answer costs at most this); 0 to 30 s.</summary>
    public TimeSpan ExportFlushTimeout { get; set; } = TelemetryExport.DefaultFlushTimeout;
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
        foreach (var (key, port) in new[] { (nameof(options.SiloPort), (int?)options.SiloPort), (nameof(options.PrimarySiloPort), options.PrimarySiloPort) })
            if (port is { } p && (p < 1 || p > 65535)) problems.Add($"{Key(key)} = {p}: expected a port between 1 and 65535");
        if (options.GatewayPort is < 0 or > 65535)
            problems.Add($"{Key(nameof(options.GatewayPort))} = {options.GatewayPort}: expected a port between 1 and 65535, or 0 for no gateway");
        var devices = options.Devices;
        if (devices.CpuSlots is < 1) problems.Add($"{Devices}:{nameof(devices.CpuSlots)} = {devices.CpuSlots}: must be at least 1");
        if (devices.Cores is < 1) problems.Add($"{Devices}:{nameof(devices.Cores)} = {devices.Cores}: must be at least 1 (unset: every core)");
        if (devices.Gpus is < 0) problems.Add($"{Devices}:{nameof(devices.Gpus)} = {devices.Gpus}: must be 0 or more (a pod's nvidia.com/gpu limit)");
        else if (devices.Gpus is > 0 && !devices.UseCuda)
            problems.Add($"{Devices}:{nameof(devices.Gpus)} = {devices.Gpus}: {Devices}:{nameof(devices.UseCuda)} = false uses no GPU");
        if (options.Health.Port is { } health && (health < 1 || health > 65535))
            problems.Add($"{Key(nameof(options.Health))}:{nameof(options.Health.Port)} = {health}: expected a port between 1 and 65535 (unset: no health endpoint)");
        if (devices.TrialsPerDevice < 1) problems.Add($"{Devices}:{nameof(devices.TrialsPerDevice)} = {devices.TrialsPerDevice}: must be at least 1");
        var tracing = options.Tracing;
        if (tracing.FirstSteps < 0) problems.Add($"{Tracing}:{nameof(tracing.FirstSteps)} = {tracing.FirstSteps}: must be 0 or more");
        if (tracing.EveryStep < 0)
            problems.Add($"{Tracing}:{nameof(tracing.EveryStep)} = {tracing.EveryStep}: must be 0 or more (0: no step spans after the first ones)");
        problems.AddRange(options.Leases.Problems());
        problems.AddRange(options.Membership.Problems());
        var usesRedis = new[] { options.Clustering, options.Storage, options.Reminders }.Contains("redis");
        if (options.Redis is { Length: > 0 } redis)
        {
            try { RedisAddress.Parse(redis, Key(nameof(options.Redis))); }
            catch (FormatException e) { problems.Add(e.Message); }
        }
        else if (usesRedis)
            problems.Add($"{Key(nameof(options.Redis))} = \"\": Redis clustering, storage or reminders need the Redis to use, e.g. redis://redis-host:6379");
        if (options.AdvertisedAddress is { Length: > 0 } advertised && SiloAddressing.Resolve(advertised) is { Problem: { } unresolved })
            problems.Add($"{Key(nameof(options.AdvertisedAddress))} = \"{advertised}\": {unresolved}");
        problems.AddRange(options.Tls.Problems());
        if (TelemetryExport.FlushTimeoutProblem(options.ExportFlushTimeout) is { } flush) problems.Add(flush);
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
