using System.Net;
using System.Net.Sockets;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Descent.Client.Cluster;

/// <summary>Where the client's sweeps run: <see cref="Gateways"/> of a running cluster, the <see cref="Redis"/> whose
/// membership table lists them, or (neither) a silo started in this process, the embedded default that needs no
/// set-up.</summary>
public sealed record ClusterTarget(IReadOnlyList<IPEndPoint> Gateways, string ClusterId, string ServiceId, int? Slots, bool Verbose)
{
    /// <summary>The embedded silo's store: a folder (absolute) where its grain states survive the process (local
    /// storage); null: this process's memory.</summary>
    public string? Store { get; init; }

    public const string ClusterVariable = "DESCENT_CLUSTER";
    public const string ClusterIdVariable = "DESCENT_CLUSTER_ID";

    /// <summary>The cluster's Redis (<c>--cluster redis://host:port</c>): gateways are read from its membership
    /// table, and refreshed as silos join and leave.</summary>
    public StackExchange.Redis.ConfigurationOptions? Redis { get; init; }

    /// <summary>TLS to the gateways (<c>--tls-ca</c>, <c>--tls-cert</c>, <c>--tls-key</c>), or none.</summary>
    public ClientTls? Tls { get; init; }

    /// <summary>Where the cluster was given: <c>--cluster</c>, or <see cref="ClusterVariable"/> when the option was not.</summary>
    public string Source { get; init; } = "--cluster";

    /// <summary>The cluster as it was given (<c>redis://host:port</c> or <c>host:port[,...]</c>), or null for the
    /// embedded silo.</summary>
    public string? Address { get; init; }

    public bool Embedded => Gateways.Count == 0 && Redis is null;

    public string Describe => Embedded ? "embedded silo"
        : Redis is { } redis ? $"cluster in redis://{RedisAddress.Describe(redis)}"
        : $"cluster {string.Join(",", Gateways)}";

    /// <summary>The descent-client command that runs <paramref name="verb"/> (status, leaderboard, cancel) on sweep
    /// <paramref name="sweepId"/> against this cluster, as it was given, for a message to show: <c>--cluster</c> with its
    /// value (any password as <c>***</c>), or <c>--cluster "$DESCENT_CLUSTER"</c> when it came from that variable, and
    /// <c>--cluster-id</c> unless the id is the default; null for the embedded silo, which no other command reaches.
    /// <paramref name="options"/> are added after the sweep id (e.g. <c>--json</c>).</summary>
    public string? Command(string verb, string sweepId, string options = "")
    {
        if (Embedded || Address is null) return null;
        var cluster = Source == ClusterVariable ? $"\"${ClusterVariable}\"" : Quoted(RedisAddress.Redact(Address));
        var id = ClusterId == "descent" ? "" : $" --cluster-id {Quoted(ClusterId)}";
        var tls = Tls is null ? "" : " [the same --tls-* options]";
        return $"descent-client {verb} {sweepId}{(options.Length > 0 ? " " + options : "")} --cluster {cluster}{id}{tls}";
    }

    /// <summary><paramref name="text"/> as a shell word: as it is when it has no character a shell treats specially,
    /// else in single quotes.</summary>
    static string Quoted(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || ":/.,@_-[]=+".Contains(c)) ? text : $"'{text.Replace("'", "'\\''")}'";

    /// <summary>Reads <c>--cluster host:port[,host:port...]</c> or <c>--cluster redis://host:port</c> (or
    /// <see cref="ClusterVariable"/>); throws <see cref="UsageException"/> naming the option and the value.</summary>
    public static ClusterTarget From(string? cluster, string? clusterId, int? slots, bool verbose)
    {
        var source = "--cluster";
        if (string.IsNullOrWhiteSpace(cluster))
        {
            cluster = Environment.GetEnvironmentVariable(ClusterVariable);
            source = ClusterVariable;
        }
        clusterId ??= Environment.GetEnvironmentVariable(ClusterIdVariable) ?? "descent";
        var gateways = new List<IPEndPoint>();
        StackExchange.Redis.ConfigurationOptions? redis = null;
        if (cluster is { } text && RedisAddress.IsUrl(text.Trim()))
        {
            try { redis = RedisAddress.Parse(text.Trim(), source); }
            catch (FormatException e) { throw new UsageException(e.Message); }
        }
        else
        {
            foreach (var part in (cluster ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                gateways.Add(ParseEndpoint(part, source));
        }
        CheckSlots(slots);
        if (slots is not null && (gateways.Count > 0 || redis is not null))
            throw new UsageException($"--slots = {slots}: only the embedded silo takes it; a cluster's silos set their own device slots");
        if (clusterId.Trim().Length == 0) throw new UsageException("--cluster-id = \"\": must not be empty");
        return new ClusterTarget(gateways, clusterId, clusterId, slots, verbose)
            { Redis = redis, Source = source, Address = gateways.Count > 0 || redis is not null ? cluster!.Trim() : null };
    }

    /// <summary>The embedded silo with its grain states in <paramref name="store"/>, whatever <see cref="ClusterVariable"/>
    /// says; throws <see cref="UsageException"/> for <paramref name="slots"/> below 1.</summary>
    public static ClusterTarget EmbeddedSilo(int? slots, bool verbose, string store)
    {
        CheckSlots(slots);
        return new ClusterTarget([], "descent", "descent", slots, verbose) { Store = store };
    }

    static void CheckSlots(int? slots)
    {
        if (slots is < 1) throw new UsageException($"--slots = {slots}: must be at least 1");
    }

    static IPEndPoint ParseEndpoint(string text, string source)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 1 or > 65535)
            throw new UsageException($"{source} = \"{text}\": expected a gateway as host:port, e.g. localhost:30000");
        var host = text[..colon].Trim('[', ']');
        if (IPAddress.TryParse(host, out var address)) return new IPEndPoint(address, port);
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
            if (chosen is null) throw new UsageException($"{source} = \"{text}\": host {host} has no address");
            return new IPEndPoint(chosen, port);
        }
        catch (SocketException e)
        {
            throw new UsageException($"{source} = \"{text}\": cannot resolve host {host} ({e.Message})");
        }
    }
}

/// <summary>An open connection to the sweeps' cluster; disposing it stops the embedded silo or the client.</summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    readonly IHost _host;

    ClusterConnection(IHost host, ClusterTarget target)
    {
        _host = host;
        Target = target;
        Grains = host.Services.GetRequiredService<IClusterClient>();
        if (host.Services.GetKeyedService<Orleans.Storage.IGrainStorage>(Descent.Grains.Sweeps.SweepStorage.Name) is LocalGrainStorage store)
            StoreFailed = store.Failed;
    }

    /// <summary>The embedded silo's durable store: completes with its failed write (a full disk, a read-only file
    /// system, its folder removed), after which no grain state can change. Never completes for a cluster, or an
    /// embedded silo without a store.</summary>
    public Task<WriteFailedException> StoreFailed { get; } = new TaskCompletionSource<WriteFailedException>().Task;

    public ClusterTarget Target { get; }

    public IClusterClient Grains { get; }

    /// <summary>Starts the embedded silo or connects to the cluster; throws <see cref="ClusterUnavailableException"/>
    /// when that fails, or the embedded silo's <see cref="StoreLockedException"/> (another process holds its store) or
    /// <see cref="StoreFormatException"/> (a store this version cannot read).</summary>
    public static async Task<ClusterConnection> Open(ClusterTarget target, CancellationToken cancellation)
    {
        // A Redis that does not answer: one line naming the option and the address within seconds, where Orleans'
        // client would retry for most of a minute and end with StackExchange.Redis's dump.
        if (target.Redis is { } membership && await RedisAddress.Unreachable(membership, target.Source, cancellation) is { } unreachable)
            throw new ClusterUnavailableException(unreachable);
        // An empty builder: no appsettings.json or environment of the working folder changes what the client does.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        // ...except OpenTelemetry's standard variables, which the exporters read from configuration.
        builder.Configuration.AddInMemoryCollection(Variables("OTEL_", StringComparison.Ordinal));
        // The log is for --verbose: what goes wrong is reported by the command itself, and a silo that stops while
        // trials run (a second Ctrl-C) logs errors that are expected then.
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true)
            .AddFilter(level => level >= (target.Verbose ? LogLevel.Information : LogLevel.Critical));
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        // Ctrl-C belongs to the sweep command (it cancels the sweep), not to the host.
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        if (target.Embedded)
        {
            // The embedded silo is descent-silo, configured the same way: its settings come from DESCENT__* variables
            // (Descent__Tracing__EveryStep, Descent__Devices__TrialsPerDevice, ...), then from a layer of its own on
            // top: where it listens, stores and keeps reminders, and --slots.
            builder.Configuration.AddInMemoryCollection(Variables(DescentSiloOptions.Section + "__", StringComparison.OrdinalIgnoreCase)
                .Select(v => KeyValuePair.Create(v.Key.Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal), v.Value)));
            builder.Configuration.AddInMemoryCollection(EmbeddedSettings(target));
            builder.AddDescentSilo();
        }
        var retries = new ConnectRetries();
        if (!target.Embedded)
        {
            builder.UseOrleansClient(client =>
            {
                client.UseConnectionRetryFilter(retries.ShouldRetry);
                client.AddActivityPropagation();
                if (target.Redis is { } redis) client.UseRedisClustering(o => o.ConfigurationOptions = redis);
                else client.UseStaticClustering([.. target.Gateways]);
                target.Tls?.AddTo(client);
                client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (target.ClusterId, target.ServiceId));
                // Silos join and leave during a sweep: the gateway list is read again every few seconds.
                client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            });
        }
        var host = builder.Build();
        if (target.Embedded && host.SettingsProblems() is { Count: > 0 } problems)
        {
            host.Dispose();
            throw new SiloSettingsException(problems);
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            await host.StartAsync(timeout.Token);
            return new ClusterConnection(host, target);
        }
        catch (Exception e)
        {
            try { await host.StopAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { /* already failing */ }
            host.Dispose();
            // A store that cannot be opened is the caller's to word (the sweep it holds).
            if (StoreRefusals.Of(e) is { } refusal) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(refusal);
            var reason = e is OperationCanceledException && !cancellation.IsCancellationRequested
                ? $"no answer within 60 s{(retries.Last is { } last ? $" ({last.Message})" : "")}"
                : e.Message;
            if (target.Gateways.Count > 0 && !cancellation.IsCancellationRequested && await ClientTls.Diagnose(target.Gateways[0], target.Tls, cancellation) is { } tls) reason = tls;
            throw new ClusterUnavailableException(target.Embedded
                ? $"cannot start the embedded silo: {reason}"
                : $"cannot reach the {target.Describe} (cluster id \"{target.ClusterId}\"): {reason}", e);
        }
    }

    /// <summary>The embedded silo's own settings, over any DESCENT__* variable: a one-process cluster on loopback, its
    /// grain states in <see cref="ClusterTarget.Store"/>.</summary>
    static Dictionary<string, string?> EmbeddedSettings(ClusterTarget target)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Descent:Clustering"] = "localhost",
            ["Descent:Storage"] = target.Store is null ? "process" : "local",
            ["Descent:StoragePath"] = target.Store,
            ["Descent:Reminders"] = "memory",
            ["Descent:ClusterId"] = target.ClusterId,
            ["Descent:ServiceId"] = target.ServiceId,
            ["Descent:SiloPort"] = $"{FreePort()}",
            // No gateway: the client is in this process, and no other user of the machine can reach the silo's grains.
            ["Descent:GatewayPort"] = "0",
            ["Descent:PrimarySiloPort"] = "", // none: this silo is the primary
            ["Descent:ListenOnAllInterfaces"] = "false",
            // A client in a pod (a sweep Job) is not a silo of that pod's cluster: no Kubernetes hosting, no probes.
            ["Descent:Kubernetes:Enabled"] = "false",
            ["Descent:Health:Port"] = "",
            // The user's own process and files: a CSV task may read any file the user can.
            ["Descent:DataRoot"] = "/",
        };
        if (target.Slots is { } slots) settings["Descent:Devices:CpuSlots"] = $"{slots}";
        return settings;
    }

    /// <summary>The environment variables whose names start with <paramref name="prefix"/>.</summary>
    static IEnumerable<KeyValuePair<string, string?>> Variables(string prefix, StringComparison comparison) =>
        Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => ((string)e.Key).StartsWith(prefix, comparison))
            .Select(e => new KeyValuePair<string, string?>((string)e.Key, (string?)e.Value));

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            _host.Dispose();
        }
    }

    /// <summary>A few quick attempts to reach a gateway, then the client gives up with the last error (Orleans'
    /// default is to fail at once; a cluster still starting deserves a few seconds).</summary>
    sealed class ConnectRetries
    {
        const int Attempts = 5;
        int _failures;

        public Exception? Last { get; private set; }

        public async Task<bool> ShouldRetry(Exception exception, CancellationToken cancellation)
        {
            Last = exception;
            if (++_failures >= Attempts) return false;
            await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
            return true;
        }
    }

    sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>A command-line mistake (exit code 2); the message names the option and the value.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The cluster could not be reached or the embedded silo could not start (exit code 1).</summary>
public sealed class ClusterUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
