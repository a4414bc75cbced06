using System.Net;
using System.Net.Sockets;
using System.Text;
using Descent.Tests.Client;

namespace Descent.Tests.Cluster;

/// <summary>
/// A real Descent cluster for a test: a <c>redis-server</c> process (Debian's, append-only persistence, in the test's
/// folder) and <c>descent-silo</c> processes with Redis clustering, storage and reminders, each on its own loopback
/// address (127.0.0.x, advertised explicitly, so no traffic goes to the machine's external address). Processes are
/// killed when the cluster is disposed.
/// </summary>
sealed class RealCluster : IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    readonly string[] _siloSettings;

    RealCluster(string folder, RedisServer redis, string clusterId, string[] siloSettings)
    {
        Folder = folder;
        Redis = redis;
        ClusterId = clusterId;
        _siloSettings = siloSettings;
    }

    public string Folder { get; }
    public RedisServer Redis { get; }
    public string ClusterId { get; }
    public List<SiloProcess> Silos { get; } = [];

    /// <summary>The client's options for this cluster.</summary>
    public string[] ClientOptions => ["--cluster", Redis.Url, "--cluster-id", ClusterId];

    /// <summary>Starts Redis and <paramref name="silos"/> silos (addresses 127.0.0.2, .3, ...) with
    /// <paramref name="siloSettings"/> (<c>--Descent:Key=value</c>) on top of the cluster's, and waits until each
    /// has started.</summary>
    public static async Task<RealCluster> Start(string folder, int silos, params string[] siloSettings)
    {
        var redis = new RedisServer(Path.Combine(folder, "redis"));
        await redis.Start();
        var cluster = new RealCluster(folder, redis, "real-" + Guid.NewGuid().ToString("N")[..6], siloSettings);
        try
        {
            for (var i = 0; i < silos; i++) cluster.Silos.Add(cluster.NewSilo(IPAddress.Parse($"127.0.0.{i + 2}")));
            await Task.WhenAll(cluster.Silos.Select(s => s.Start()));
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
        return cluster;
    }

    SiloProcess NewSilo(IPAddress address) =>
        new(Folder, address, RunningProcess.FreePort(), RunningProcess.FreePort(),
        [
            "--Descent:Clustering=redis", "--Descent:Storage=redis", "--Descent:Reminders=redis",
            $"--Descent:Redis={Redis.Url}", $"--Descent:ClusterId={ClusterId}", $"--Descent:ServiceId={ClusterId}",
            .. _siloSettings,
        ]);

    /// <summary>Starts one more silo on the next free 127.0.0.x address.</summary>
    public async Task<SiloProcess> AddSilo()
    {
        var silo = NewSilo(IPAddress.Parse($"127.0.0.{Silos.Count + 2}"));
        Silos.Add(silo);
        await silo.Start();
        return silo;
    }

    /// <summary>The cluster's rows in Redis' membership table (Orleans' Redis clustering: a hash per cluster,
    /// a JSON value per silo, and a "Version" field).</summary>
    public async Task<List<System.Text.Json.JsonElement>> MembershipRows()
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Redis.Port}");
        var rows = await redis.GetDatabase().HashGetAllAsync($"{ClusterId}/members/{ClusterId}");
        return [.. rows.Where(r => r.Name != "Version").Select(r => System.Text.Json.JsonDocument.Parse((string)r.Value!).RootElement.Clone())];
    }

    public void Dispose()
    {
        foreach (var silo in Silos) silo.Dispose();
        Redis.Dispose();
    }
}

/// <summary>One descent-silo process of a <see cref="RealCluster"/>: started, killed and started again on the same
/// address and ports.</summary>
sealed class SiloProcess(string folder, IPAddress address, int siloPort, int gatewayPort, string[] settings) : IDisposable
{
    RunningProcess? _process;
    int _starts;

    public IPAddress Address { get; } = address;
    public int SiloPort { get; } = siloPort;
    public int GatewayPort { get; } = gatewayPort;
    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");
    /// <summary>What the process wrote to standard output and error, every start's.</summary>
    public string Log { get; private set; } = "";

    public string Name => $"silo {Address}";

    public async Task Start()
    {
        Collect();
        _process = RunningProcess.Start("descent-silo.dll", folder,
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

    void Collect()
    {
        if (_process is null) return;
        Log += $"--- start {_starts} ---\n{_process.Out}{_process.Err}";
        _process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
    }
}

/// <summary>A <c>redis-server</c> process on 127.0.0.1 with append-only persistence in <see cref="Folder"/>, which
/// survives a kill and a restart on the same port.</summary>
sealed class RedisServer(string folder) : IDisposable
{
    RunningProcess? _process;

    public string Folder { get; } = folder;
    public int Port { get; } = RunningProcess.FreePort();
    public string Url => $"redis://127.0.0.1:{Port}";

    /// <summary>Debian's redis-server (CI installs it in .ci/run).</summary>
    public static string Program =>
        new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("redis-server is not installed: apt-get install -y redis-server (.ci/run installs it)");

    public async Task Start()
    {
        Directory.CreateDirectory(Folder);
        _process = RunningProcess.Start(Program, Folder,
            "--port", $"{Port}", "--bind", "127.0.0.1", "--dir", Folder, "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--protected-mode", "no", "--daemonize", "no");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await Answers())
        {
            if (_process.HasExited) throw new InvalidOperationException($"redis-server exited: {_process.Out}{_process.Err}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"redis-server did not answer on port {Port}: {_process.Out}");
            await Task.Delay(100);
        }
    }

    async Task<bool> Answers()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var reply = new byte[16];
            var read = await stream.ReadAsync(reply);
            return Encoding.ASCII.GetString(reply, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async Task Kill()
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        process.Signal(9);
        await process.Exit(TimeSpan.FromSeconds(10));
        process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
    }
}
