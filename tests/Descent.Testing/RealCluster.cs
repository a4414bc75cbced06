using System.Net;

namespace Descent.Testing;

/// <summary>
/// A real Descent cluster for a test or a benchmark: a <c>redis-server</c> process (Debian's, append-only persistence,
/// in the caller's folder) and <c>descent-silo</c> processes with Redis clustering, storage and reminders, each on its own address
/// of <see cref="Network"/> (loopback addresses 127.0.0.x, or hosts in network namespaces of their own), advertised
/// explicitly, so no traffic goes to the machine's external address. Processes are killed when the cluster is
/// disposed, and namespaces removed.
/// </summary>
public sealed class RealCluster : IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    readonly string[] _siloSettings;
    readonly IReadOnlyDictionary<string, string>? _siloEnvironment;
    StackExchange.Redis.ConnectionMultiplexer? _membershipConnection;

    RealCluster(string folder, ClusterNetwork network, RedisServer redis, string clusterId, string[] siloSettings,
        IReadOnlyDictionary<string, string>? siloEnvironment)
    {
        Folder = folder;
        Network = network;
        Redis = redis;
        ClusterId = clusterId;
        _siloSettings = siloSettings;
        _siloEnvironment = siloEnvironment;
    }

    public string Folder { get; }
    public ClusterNetwork Network { get; }
    public RedisServer Redis { get; }
    public string ClusterId { get; }
    public List<SiloProcess> Silos { get; } = [];

    /// <summary>The client's options for this cluster.</summary>
    public string[] ClientOptions => ["--cluster", Redis.Url, "--cluster-id", ClusterId];

    /// <summary>Starts Redis and <paramref name="silos"/> silos on loopback addresses (127.0.0.2, .3, ...) with
    /// <paramref name="siloSettings"/> (<c>--Descent:Key=value</c>) on top of the cluster's, and waits until each
    /// has started.</summary>
    public static Task<RealCluster> Start(string folder, int silos, params string[] siloSettings) =>
        Start(folder, new LoopbackNetwork(), silos, siloSettings);

    /// <summary>As <see cref="Start(string, int, string[])"/>, on <paramref name="network"/> (the cluster owns it).</summary>
    public static Task<RealCluster> Start(string folder, ClusterNetwork network, int silos, params string[] siloSettings) =>
        Start(folder, network, silos, null, siloSettings);

    /// <summary>As <see cref="Start(string, ClusterNetwork, int, string[])"/>, with <paramref name="siloEnvironment"/>
    /// added to each silo's clean environment (<see cref="RunningProcess.Launch(string, string, IReadOnlyDictionary{string, string}?, string[])"/>).</summary>
    public static async Task<RealCluster> Start(string folder, ClusterNetwork network, int silos, IReadOnlyDictionary<string, string>? siloEnvironment,
        string[] siloSettings)
    {
        RealCluster? cluster = null;
        try
        {
            var redis = new RedisServer(Path.Combine(folder, "redis"), network);
            cluster = new RealCluster(folder, network, redis, "real-" + Guid.NewGuid().ToString("N")[..6], siloSettings, siloEnvironment);
            await redis.Start();
            for (var i = 0; i < silos; i++) cluster.Silos.Add(cluster.NewSilo(i));
            await Task.WhenAll(cluster.Silos.Select(s => s.Start()));
        }
        catch
        {
            cluster?.Dispose();
            if (cluster is null) network.Dispose();
            throw;
        }
        return cluster;
    }

    SiloProcess NewSilo(int index) =>
        new(Folder, Network, index, RunningProcess.FreePort(), RunningProcess.FreePort(), _siloEnvironment,
        [
            "--Descent:Clustering=redis", "--Descent:Storage=redis", "--Descent:Reminders=redis",
            $"--Descent:Redis={Redis.Url}", $"--Descent:ClusterId={ClusterId}", $"--Descent:ServiceId={ClusterId}",
            .. _siloSettings,
        ]);

    /// <summary>Starts one more silo on the network's next host.</summary>
    public async Task<SiloProcess> AddSilo()
    {
        var silo = NewSilo(Silos.Count);
        Silos.Add(silo);
        await silo.Start();
        return silo;
    }

    /// <summary>The real descent-client, on the network's client host (its namespace, or this machine).</summary>
    public RunningProcess Client(params string[] args) =>
        RunningProcess.Launch(Network.Wrapper(null), "descent-client.dll", Folder, null, args);

    /// <summary>The cluster's rows in Redis' membership table (<see cref="MembershipRow"/>): over one connection kept
    /// for the cluster's lifetime when Redis is reachable from here (loopback), so that it can be polled; else with
    /// redis-cli on Redis' host (a namespace).</summary>
    public async Task<List<MembershipRow>> MembershipRows()
    {
        if (Network.Wrapper(null).Length == 0)
        {
            _membershipConnection ??= await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"{Network.RedisAddress}:{Redis.Port}");
            var fields = await _membershipConnection.GetDatabase().HashGetAllAsync(MembershipRow.Key(ClusterId));
            return [.. fields.Where(r => r.Name != MembershipRow.VersionField).Select(r => MembershipRow.Parse(r.Value!))];
        }
        using var cli = RunningProcess.Launch(Network.Wrapper(null), "/usr/bin/redis-cli", Folder, null,
            "-h", $"{Network.RedisAddress}", "-p", $"{Redis.Port}", "--raw", "HGETALL", MembershipRow.Key(ClusterId));
        if (await cli.Exit(TimeSpan.FromSeconds(10)) != 0) throw new InvalidOperationException($"redis-cli: {cli.Err}");
        var lines = cli.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return [.. lines.Where((_, i) => i % 2 == 1 && lines[i - 1] != MembershipRow.VersionField).Select(MembershipRow.Parse)];
    }

    /// <summary>Waits until the membership table says <paramref name="silo"/>'s generation that was running is
    /// dead (status 6), and returns when that was seen (polled every 100 ms).</summary>
    public async Task<DateTimeOffset> DeclaredDead(SiloProcess silo, TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        var prefix = $"{silo.Address}:{silo.SiloPort}@";
        while (true)
        {
            var rows = await MembershipRows();
            var generations = rows.Where(r => r.Silo.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(r => r.Generation).ToList();
            if (generations.Count > 0 && generations[^1].Status == Orleans.Runtime.SiloStatus.Dead) return DateTimeOffset.UtcNow;
            if (DateTimeOffset.UtcNow > deadline) throw new TimeoutException($"{silo.Name} was not declared dead within {timeout}");
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        foreach (var silo in Silos) silo.Dispose();
        _membershipConnection?.Dispose();
        Redis.Dispose();
        Network.Dispose();
    }
}

/// <summary>One descent-silo process of a <see cref="RealCluster"/>: started, killed and started again on the same
/// address and ports.</summary>
public sealed class SiloProcess(string folder, ClusterNetwork network, int host, int siloPort, int gatewayPort,
    IReadOnlyDictionary<string, string>? environment, string[] settings) : IDisposable
{
    RunningProcess? _process;
    int _starts;

    public IPAddress Address { get; } = network.SiloAddress(host);
    /// <summary>The silo's host on the cluster's network (0, 1, ...).</summary>
    public int Host { get; } = host;
    public int SiloPort { get; } = siloPort;
    public int GatewayPort { get; } = gatewayPort;
    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");
    string _log = "";

    /// <summary>What the process wrote to standard output and error, every start's, the running one's included.</summary>
    public string Log => _process is { } running ? $"{_log}--- start {_starts} ---\n{running.Out}{running.Err}" : _log;

    public string Name => $"silo {Address}";

    public async Task Start()
    {
        Collect();
        _process = RunningProcess.Launch(network.Wrapper(Host), "descent-silo.dll", folder, environment,
        [
            $"--Descent:AdvertisedAddress={Address}", $"--Descent:SiloPort={SiloPort}", $"--Descent:GatewayPort={GatewayPort}", .. settings,
        ]);
        _starts++;
        await _process.WaitFor(o => o.Contains("Application started"), RealCluster.StartTimeout, onStdout: true);
    }

    /// <summary>SIGKILL: the process ends at once, handing nothing back.</summary>
    public async Task Kill()
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        process.Signal(9);
        await process.Exit(TimeSpan.FromSeconds(10));
        Collect();
    }

    /// <summary>SIGSTOP: the process is frozen (a hung machine) until <see cref="Continue"/>.</summary>
    public void Freeze() => (_process ?? throw new InvalidOperationException("not started")).Signal(19);

    /// <summary>SIGCONT.</summary>
    public void Continue() => (_process ?? throw new InvalidOperationException("not started")).Signal(18);

    /// <summary>SIGTERM: a graceful stop (running trials are handed back); waits for the process to exit.</summary>
    public async Task<int> Stop(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        process.Signal(15);
        var exit = await process.Exit(timeout);
        Collect();
        return exit;
    }

    public bool Running => _process is not null && !_process.HasExited;

    /// <summary>Waits for the process to end by itself, and gives its exit code and standard error; throws
    /// <see cref="TimeoutException"/> (and kills it) if it has not within <paramref name="timeout"/>.</summary>
    public async Task<(int Exit, string Err)> Exited(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        var exit = await process.Exit(timeout);
        var err = process.Err;
        Collect();
        return (exit, err);
    }

    /// <summary>SIGTERM without waiting (<see cref="Exited"/> waits).</summary>
    public void Terminate() => (_process ?? throw new InvalidOperationException("not started")).Signal(15);

    void Collect()
    {
        if (_process is null) return;
        _log += $"--- start {_starts} ---\n{_process.Out}{_process.Err}";
        _process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
    }
}

/// <summary>A <c>redis-server</c> process on the network's Redis address with append-only persistence in
/// <see cref="Folder"/>, which survives a kill and a restart on the same port.</summary>
public sealed class RedisServer(string folder, ClusterNetwork network) : IDisposable
{
    RunningProcess? _process;

    public string Folder { get; } = folder;
    public int Port { get; } = RunningProcess.FreePort();
    public string Url => $"redis://{network.RedisAddress}:{Port}";

    /// <summary>Debian's redis-server (CI installs it in .ci/run).</summary>
    public static string Program =>
        new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server (.ci/run installs it)");

    public async Task Start()
    {
        Directory.CreateDirectory(Folder);
        _process = RunningProcess.Launch(network.Wrapper(null), Program, Folder, null,
            "--port", $"{Port}", "--bind", $"{network.RedisAddress}", "--dir", Folder, "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--protected-mode", "no", "--daemonize", "no");
        await _process.WaitFor(o => o.Contains("Ready to accept connections", StringComparison.Ordinal), TimeSpan.FromSeconds(20), onStdout: true);
    }

    public async Task Kill()
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        process.Signal(9);
        await process.Exit(TimeSpan.FromSeconds(10));
        process.Dispose();
        _process = null;
    }

    /// <summary>SIGSTOP: Redis stalls, its data kept, until <see cref="Continue"/>.</summary>
    public void Freeze() => (_process ?? throw new InvalidOperationException("not started")).Signal(19);

    /// <summary>SIGCONT.</summary>
    public void Continue() => (_process ?? throw new InvalidOperationException("not started")).Signal(18);

    /// <summary>Deletes everything Redis holds (FLUSHALL), as a Redis restarted without persistence would come back.</summary>
    public async Task Empty()
    {
        using var cli = RunningProcess.Launch(network.Wrapper(null), "/usr/bin/redis-cli", Folder, null,
            "-h", $"{network.RedisAddress}", "-p", $"{Port}", "FLUSHALL");
        if (await cli.Exit(TimeSpan.FromSeconds(10)) != 0) throw new InvalidOperationException($"redis-cli: {cli.Err}");
    }

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
    }
}
