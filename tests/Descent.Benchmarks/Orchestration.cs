using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Training;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

/// <summary>Orchestration overhead per trial: trivial trials through a real silo (one CPU slot, so trials run one
/// after another as in the plain loop) against the same trials run by Trainer.Run in a plain loop.</summary>
static class Orchestration
{
    public static async Task Run(int trials)
    {
        var specs = Enumerable.Range(0, trials)
            .Select(i => new TrialSpec(new SyntheticTaskSpec(64, 4, 4, 1), new OptimizerSpec(OptimizerKind.Sgd, 0.01), new Budget(1), i))
            .ToList();

        // Plain loop: the trainer alone.
        foreach (var s in specs.Take(20)) Trainer.Run(s); // warm-up
        var plain = new List<double>();
        foreach (var s in specs)
        {
            var t0 = Stopwatch.GetTimestamp();
            Trainer.Run(s);
            plain.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }

        // Through the system: a silo with one CPU slot, an Orleans client, one sweep.
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        var siloBuilder = Host.CreateApplicationBuilder();
        siloBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
        siloBuilder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Descent:SiloPort"] = $"{siloPort}", ["Descent:GatewayPort"] = $"{gatewayPort}", ["Descent:Devices:CpuSlots"] = "1", ["Descent:Storage"] = "process",
        });
        siloBuilder.AddDescentSilo();
        using var silo = siloBuilder.Build();
        await silo.StartAsync();
        var clientBuilder = Host.CreateApplicationBuilder();
        clientBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
        clientBuilder.UseOrleansClient(c => c.UseLocalhostClustering(gatewayPort, "descent", "descent"));
        using var client = clientBuilder.Build();
        await client.StartAsync();
        var grains = client.Services.GetRequiredService<IClusterClient>();

        await RunSweep(grains, "warm-up", specs.Take(20).Select(s => s with { Seed = s.Seed + 1_000_000 }).ToList());
        var records = await RunSweep(grains, "overhead", specs);
        await client.StopAsync();
        await silo.StopAsync();

        // One slot: trial i holds the device from its start to its finish; its cycle is the time from the previous
        // trial's finish to its own, and the part of the cycle the trainer did not spend is orchestration.
        var ordered = records.OrderBy(r => r.FinishedAt).ToList();
        var cycles = new List<double>();
        var overheads = new List<double>();
        var gaps = new List<double>();
        var held = new List<double>();
        for (var i = 1; i < ordered.Count; i++)
        {
            var cycle = (ordered[i].FinishedAt - ordered[i - 1].FinishedAt).TotalMilliseconds;
            cycles.Add(cycle);
            overheads.Add(cycle - ordered[i].Result.WallSeconds * 1000);
            gaps.Add((ordered[i].StartedAt - ordered[i - 1].FinishedAt).TotalMilliseconds);
            held.Add((ordered[i].FinishedAt - ordered[i].StartedAt).TotalMilliseconds - ordered[i].Result.WallSeconds * 1000);
        }
        Console.WriteLine($"Orchestration overhead: {trials} trivial trials (synthetic 64 x 4, sgd, 1 step), one silo with one CPU slot, process storage");
        Bench.Table(["", "median ms per trial", "total s"],
        [
            ["plain loop (Trainer.Run)", Bench.F(Bench.Median(plain), 3), Bench.F(plain.Sum() / 1000, 2)],
            ["through Descent (device cycle)", Bench.F(Bench.Median(cycles), 3), Bench.F((ordered[^1].FinishedAt - ordered[0].StartedAt).TotalSeconds, 2)],
            ["overhead (cycle - trainer time)", Bench.F(Bench.Median(overheads), 3), "goal < 3 ms"],
            ["overhead, mean over the sweep", Bench.F(overheads.Average(), 3), "every cycle minus its trainer time"],
            ["  device idle between trials", Bench.F(Bench.Median(gaps), 3), ""],
            ["  thread start and hand-over", Bench.F(Bench.Median(held), 3), ""],
        ]);
        Console.WriteLine("  peers for trivial trials: Optuna in memory ~9 ms, Ray Tune ~31 ms (reusing actors) to 144 ms");
        Console.WriteLine();
    }

    static async Task<IReadOnlyList<TrialRecord>> RunSweep(IClusterClient grains, string id, IReadOnlyList<TrialSpec> specs)
    {
        var coordinator = grains.GetGrain<ISweepCoordinatorGrain>(id);
        await coordinator.Start(new SweepSpec(id, specs, new RankMetric()));
        while ((await coordinator.GetSnapshot()).Status == SweepStatus.Running) await Task.Delay(200);
        return await coordinator.GetResults();
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
