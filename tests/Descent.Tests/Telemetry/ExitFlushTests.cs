using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Descent.Silo;
using Descent.Tests.Client;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Telemetry;

/// <summary>A collector that accepts connections and never answers costs descent-client and descent-silo at most
/// <c>Descent:ExportFlushTimeout</c> (2 s) at exit, a Ctrl-C then ends the wait, and a finished sweep keeps exit code 0.</summary>
[Collection(nameof(ClientProcessTests))]
public class ExitFlushTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    const int SigInt = 2, SigTerm = 15;

    const string Grid = """
        {"name": "mute", "task": {"kind": "synthetic", "n_row": 200, "dim_in": 4, "dim_hidden": 4, "n_layers": 1, "seed": 1},
         "budget": {"steps": 30}, "parameters": {"optimizer": ["sgd", "keep-stepping"], "lr": 0.01, "max_steps": 5}}
        """;

    /// <summary>A TCP listener on loopback that accepts every connection and never reads or answers (a collector
    /// stuck behind a proxy, or a process that is not a collector).</summary>
    sealed class MuteCollector : IDisposable
    {
        readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        readonly List<Socket> _held = [];

        public MuteCollector()
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var socket = await _listener.AcceptSocketAsync();
                        lock (_held) _held.Add(socket);
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            });
        }

        public IReadOnlyDictionary<string, string> Environment(string protocol) => new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}",
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol,
            ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
        };

        public int Connections { get { lock (_held) return _held.Count; } }

        public void Dispose()
        {
            _listener.Stop();
            lock (_held) foreach (var socket in _held) socket.Dispose();
        }
    }

    /// <summary>Runs a sweep exporting to <paramref name="collector"/>; returns its exit code and how long it took
    /// after its last line (and after <paramref name="signalAfter"/>'s Ctrl-C, when given).</summary>
    static async Task<(int Exit, TimeSpan AfterLastLine, TimeSpan? AfterSignal, string Err)> Sweep(MuteCollector collector, string protocol,
        TimeSpan? signalAfter = null)
    {
        var folder = Folder();
        using var client = RunningProcess.Launch("descent-client.dll", folder, collector.Environment(protocol), "sweep", Write(Grid, folder), "--out", "runs");
        await client.WaitFor(err => err.Contains("figures and report in"), Timeout);
        var last = Stopwatch.StartNew();
        Stopwatch? signalled = null;
        if (signalAfter is { } delay)
        {
            await Task.Delay(delay);
            Assert.False(client.HasExited, "exited before the Ctrl-C");
            client.Signal(SigInt);
            signalled = Stopwatch.StartNew();
        }
        var exit = await client.Exit(Timeout);
        return (exit, last.Elapsed, signalled?.Elapsed, client.Err);
    }

    [Fact]
    public async Task A_sweep_exporting_to_a_collector_that_never_answers_exits_0_within_the_flush_bound()
    {
        using var collector = new MuteCollector();
        var (exit, after, _, err) = await Sweep(collector, "grpc");
        Assert.True(exit == 0, $"exit {exit}\n{err}");
        Assert.True(collector.Connections > 0, "the client never connected to the collector");
        // 2 s of flush, plus the embedded silo's stop and the process's exit (without the bound: 10 to 14 s).
        Assert.True(after < TimeSpan.FromSeconds(3.5), $"exited {after} after its last line");
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public async Task Ctrl_C_during_the_exit_flush_ends_it_and_the_finished_sweep_keeps_exit_0()
    {
        using var collector = new MuteCollector();
        var (exit, _, afterSignal, err) = await Sweep(collector, "http/protobuf", TimeSpan.FromMilliseconds(700));
        Assert.True(exit == 0, $"exit {exit}\n{err}");
        Assert.True(afterSignal < TimeSpan.FromSeconds(1.2), $"exited {afterSignal} after Ctrl-C");
        Assert.DoesNotContain("stopped", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public async Task A_silo_stopped_with_SIGTERM_waits_at_most_the_flush_bound_for_a_collector_that_never_answers()
    {
        using var collector = new MuteCollector();
        var folder = Folder();
        using var silo = RunningProcess.Launch("descent-silo.dll", folder, collector.Environment("http/protobuf"),
            "--Descent:SiloPort=" + RunningProcess.FreePort(), "--Descent:GatewayPort=" + RunningProcess.FreePort());
        await silo.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);
        // Metrics are exported every second: exports to the collector are under way, unanswered.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (collector.Connections == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(collector.Connections > 0, "the silo never connected to the collector");
        var clock = Stopwatch.StartNew();
        silo.Signal(SigTerm);
        var exit = await silo.Exit(Timeout);
        Assert.True(exit == 0, $"exit {exit}\n{silo.Out}\n{silo.Err}");
        // Without the bound: 7.4 s (OpenTelemetry's 5 s grace on top of a 2 s flush of the logs, or 5 s per provider).
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3.5), $"exited {clock.Elapsed} after SIGTERM");
    }

    [Fact]
    public async Task The_bound_is_the_setting_Descent_ExportFlushTimeout_from_0_to_30_s()
    {
        var validator = new DescentSiloOptionsValidator();
        Assert.Equal(TimeSpan.FromSeconds(2), new DescentSiloOptions().ExportFlushTimeout);
        foreach (var fine in new[] { 0.0, 0.5, 30.0 })
            Assert.True(validator.Validate(null, new DescentSiloOptions { ExportFlushTimeout = TimeSpan.FromSeconds(fine) }).Succeeded);
        Assert.Contains("Descent:ExportFlushTimeout = 00:00:31: must be between 00:00:00 and 00:00:30",
            validator.Validate(null, new DescentSiloOptions { ExportFlushTimeout = TimeSpan.FromSeconds(31) }).Failures!);
        Assert.Contains("Descent:ExportFlushTimeout = -00:00:01: must be between 00:00:00 and 00:00:30",
            validator.Validate(null, new DescentSiloOptions { ExportFlushTimeout = TimeSpan.FromSeconds(-1) }).Failures!);

        // The client reads it from DESCENT__EXPORTFLUSHTIMEOUT, as its embedded silo does: a bad value is named.
        var folder = Folder();
        using var client = RunningProcess.Launch("descent-client.dll", folder, new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9",
            ["DESCENT__EXPORTFLUSHTIMEOUT"] = "soon",
        }, "sweep", Write(Grid, folder), "--out", "runs");
        var exit = await client.Exit(Timeout);
        Assert.Equal(2, exit);
        Assert.Contains("descent-client: DESCENT__EXPORTFLUSHTIMEOUT = \"soon\": expected a duration such as 00:00:02", client.Err);
        Assert.False(Directory.Exists(Path.Combine(folder, "runs")));
    }
}
