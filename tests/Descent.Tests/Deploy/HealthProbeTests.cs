using System.Diagnostics;
using System.Net;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Descent.Tests.Deploy;

/// <summary>The probes' endpoint of a real silo (<see cref="SiloHealth"/>), asked as the kubelet asks it, while
/// every device of the silo trains.</summary>
[Collection(nameof(AloneOnTheMachine))]
public class HealthProbeTests
{
    /// <summary>The probes' timeouts in deploy/k8s (ManifestTests checks them): readiness 3 s, liveness 5 s.</summary>
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(3), LiveTimeout = TimeSpan.FromSeconds(5);

    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Probes_answer_while_every_device_trains_and_readiness_drops_when_the_silo_stops()
    {
        var health = FreePort();
        var builder = Host.CreateEmptyApplicationBuilder(new());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Descent:SiloPort"] = $"{FreePort()}",
            ["Descent:GatewayPort"] = "0",
            // This silo's own storage: "process" storage is shared by every silo of the test process, so its
            // million-step sweep would live on in the in-process clusters of later tests and take their devices.
            ["Descent:Storage"] = "memory",
            // One training thread per core of this machine (2 slots on 2 cores, a torch thread each): full load.
            ["Descent:Devices:CpuSlots"] = $"{Math.Max(2, Environment.ProcessorCount)}",
            ["Descent:Health:Port"] = $"{health}",
        });
        builder.AddDescentSilo();
        using var silo = builder.Build();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{health}"), Timeout = Timeout.InfiniteTimeSpan };
        await silo.StartAsync();
        var slots = Math.Max(2, Environment.ProcessorCount);

        var (code, body) = await Get(http, SiloHealth.StartupPath);
        Assert.Equal(HttpStatusCode.OK, code);
        (code, body) = await Get(http, SiloHealth.ReadyPath);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Contains($"devices: healthy: {slots} device slot(s): {string.Join(", ", Enumerable.Range(0, slots).Select(s => $"cpu:{s}"))}", body);

        // Trials of the post's network that outlast the test: every slot trains until the silo stops.
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var coordinator = grains.GetGrain<ISweepCoordinatorGrain>("probes");
        var trials = Enumerable.Range(0, slots).Select(i => new TrialSpec(new SyntheticTaskSpec(20000, 10, 10, 5),
            new OptimizerSpec(OptimizerKind.Sgd, 0.001), new Budget(1_000_000), i)).ToList();
        await coordinator.Start(new SweepSpec("probes", trials, new RankMetric()));
        var running = await Until(coordinator, s => s.Running.Count == slots && s.Running.All(r => r.Step > 2));
        var stepsBefore = running.Running.Sum(r => r.Step);

        // Ask as the kubelet does, with the manifests' timeouts, every 200 ms for 6 s.
        var slowest = TimeSpan.Zero;
        var asks = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(6))
        {
            foreach (var (path, timeout) in new[] { (SiloHealth.LivePath, LiveTimeout), (SiloHealth.ReadyPath, ReadyTimeout) })
            {
                var asked = Stopwatch.StartNew();
                (code, body) = await Get(http, path, timeout);
                slowest = asked.Elapsed > slowest ? asked.Elapsed : slowest;
                asks++;
                Assert.True(code == HttpStatusCode.OK, $"{path} answered {(int)code} under load: {body}");
            }
            await Task.Delay(200);
        }
        var after = await coordinator.GetSnapshot();
        Assert.Equal(slots, after.Running.Count);
        Assert.True(after.Running.Sum(r => r.Step) > stepsBefore + slots, $"the trials did not train meanwhile ({stepsBefore} -> {after.Running.Sum(r => r.Step)} steps)");
        Assert.True(asks >= 20, $"{asks} probes in 6 s (slowest {slowest.TotalMilliseconds:F0} ms)");

        // A stopping silo hands its trials back: not ready (it leaves the gateway Service), still live.
        var stopping = silo.StopAsync();
        var sawNotReady = false;
        while (!stopping.IsCompleted && !sawNotReady)
        {
            var ready = await Get(http, SiloHealth.ReadyPath, ReadyTimeout);
            if (ready.Code == HttpStatusCode.ServiceUnavailable)
            {
                sawNotReady = true;
                Assert.Contains("serving: unhealthy: stopping", ready.Body);
                var live = await Get(http, SiloHealth.LivePath, LiveTimeout);
                Assert.Equal(HttpStatusCode.OK, live.Code);
            }
        }
        await stopping;
        Assert.True(sawNotReady, "readiness never said 503 while the silo stopped");
    }

    [Fact]
    public void A_health_port_out_of_range_is_named()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Descent:Health:Port"] = "70000" });
        builder.AddDescentSilo();
        using var host = builder.Build();
        Assert.Equal(["Descent:Health:Port = 70000: expected a port between 1 and 65535 (unset: no health endpoint)"], host.SettingsProblems());
    }

    /// <summary>GETs <paramref name="path"/>; a probe unanswered within <paramref name="timeout"/> (default 1 s, the
    /// kubelet's) fails the test, naming the path.</summary>
    static async Task<(HttpStatusCode Code, string Body)> Get(HttpClient http, string path, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(1);
        using var cancel = new CancellationTokenSource(limit);
        try
        {
            using var response = await http.GetAsync(path, cancel.Token);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(cancel.Token));
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            throw new Xunit.Sdk.XunitException($"{path} did not answer within {limit.TotalSeconds:0} s, the probe's timeout");
        }
    }

    static async Task<SweepSnapshot> Until(ISweepCoordinatorGrain coordinator, Func<SweepSnapshot, bool> ready)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var snapshot = await coordinator.GetSnapshot();
            if (ready(snapshot)) return snapshot;
            Assert.True(DateTime.UtcNow < deadline, $"not reached within 60 s: {snapshot.Running.Count} running");
            await Task.Delay(100);
        }
    }
}
