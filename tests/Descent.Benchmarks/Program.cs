// Descent benchmarks: run with
//   dotnet run -c Release --project tests/Descent.Benchmarks [-- engine --steps 200 --rounds 7 --trials 240]
//   dotnet run -c Release --project tests/Descent.Benchmarks -- orchestration [--trials 500]
//   dotnet run -c Release --project tests/Descent.Benchmarks -- scaling [500 2000 4000 10000]
//   dotnet run -c Release --project tests/Descent.Benchmarks -- store [--trials 2000]
//   dotnet run -c Release --project tests/Descent.Benchmarks -- chaos [--trials 1000] [--silos 4] [--kill-every 10s]
//                                                                      [--slots-per-silo 1] [--restart-after dead|DURATION] [--steps 10] [--baseline]
// engine: the trainer on the post's network (n_row 100000, dim_in 10, dim_hidden 10, n_layers 5) against a
// hand-written loop, the forward/backward split, a probe's cost, and memory over hundreds of trials.
// orchestration: per-trial overhead of running trivial trials through a silo against a plain loop.
// scaling: descent-client sweep (embedded) on 500 to 10,000 trivial trials: wall time and the cost of one more trial.
// store: durable writes to the embedded silo's local grain store, alone and concurrent (--trials: writes per row).
// chaos: descent-client sweep on a real cluster (Redis and descent-silo processes) while a silo is SIGKILLed every 10 s:
// trials lost and duplicated, the time to detect each loss, the fraction of device time spent training (--baseline: also
// without kills, on the same cluster first).
// Every figure is measured in the same run as its baseline.
using System.Diagnostics;
using static Bench;
using System.Globalization;
using Descent.Contracts.Trials;
using Descent.Grains.Training;
using TorchSharp;
using static TorchSharp.torch;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var command = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "engine";
if (command is not ("engine" or "orchestration" or "scaling" or "store" or "chaos"))
{
    Console.Error.WriteLine($"descent-benchmarks: unknown benchmark \"{command}\" (engine, orchestration, scaling, store or chaos)");
    return 2;
}
if (command == "chaos")
{
    Chaos.Settings settings;
    try { settings = Chaos.Settings.Parse(args[1..]); }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"descent-benchmarks: {e.Message}");
        return 2;
    }
    return await Chaos.Run(settings);
}
if (command == "scaling")
{
    var sizes = args.Skip(1).Select(a => int.TryParse(a, out var n) && n > 0 ? n : -1).ToList();
    if (sizes.Contains(-1))
    {
        Console.Error.WriteLine($"descent-benchmarks: scaling takes trial counts (whole numbers above 0), not \"{string.Join(" ", args.Skip(1))}\"");
        return 2;
    }
    return await Scaling.Run(sizes.Count > 0 ? sizes : [500, 2000, 4000, 10000]);
}
Options options;
try { options = Options.Parse(args.SkipWhile(a => !a.StartsWith('-')).ToArray(), command); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"descent-benchmarks: {e.Message}");
    return 2;
}
if (command == "orchestration")
{
    await Orchestration.Run(options.Trials);
    return 0;
}
if (command == "store")
{
    await Store.Run(options.Trials);
    return 0;
}
var network = new SyntheticTaskSpec(NRow: 100_000, DimIn: 10, DimHidden: 10, NLayers: 5);
const double lr = 1e-3;

Console.WriteLine($"Descent training-engine benchmark: {Environment.ProcessorCount} cores, torch threads {torch.get_num_threads()}, " +
                  $"{options.Steps} steps x {options.Rounds} rounds, {options.Trials} trials for memory");
Console.WriteLine($"task: synthetic n_row={network.NRow} dim_in={network.DimIn} dim_hidden={network.DimHidden} n_layers={network.NLayers}, sgd lr={lr}");
Console.WriteLine();

// 1. Trainer against a minimal hand-written TorchSharp loop doing the same SGD work (forward, MSE, zero_grad,
//    backward, step, loss.item() to record the loss). Steady-state steps/s from per-step timestamps; the order
//    alternates between rounds so that drift in machine speed falls on both.
HandLoop(network, lr, 20); // warm-up: native kernels, allocator, JIT
Trainer.Run(new TrialSpec(network, new OptimizerSpec(OptimizerKind.Sgd, lr), new Budget(20)));
var hand = new List<double>();
var trainer = new List<double>();
TrialResult? sgd = null;
for (var round = 0; round < options.Rounds; round++)
{
    void RunHand() => hand.Add(HandLoop(network, lr, options.Steps));
    void RunTrainer()
    {
        sgd = Trainer.Run(new TrialSpec(network, new OptimizerSpec(OptimizerKind.Sgd, lr), new Budget(options.Steps)));
        trainer.Add(StepsPerSecond(sgd.History.Select(h => h.ElapsedSeconds).ToList()));
    }
    if (round % 2 == 0) { RunHand(); RunTrainer(); } else { RunTrainer(); RunHand(); }
}
var ratios = hand.Zip(trainer, (h, t) => t / h).ToList();
Console.WriteLine("1. Trainer overhead (SGD, steady-state steps per second)");
Table(["", "steps/s (median)", "per round"],
[
    ["hand-written loop", F(Median(hand), 1), string.Join(" ", hand.Select(v => F(v, 1)))],
    ["Descent trainer", F(Median(trainer), 1), string.Join(" ", trainer.Select(v => F(v, 1)))],
    ["ratio trainer/hand", F(Median(ratios), 3), "goal >= 0.97"],
]);

// 2. Forward/backward split, as the trainer measures it on every trial.
Console.WriteLine("2. Where an SGD step's time goes (trainer's own timers, last round)");
var fb = sgd!.ForwardSeconds + sgd.BackwardSeconds;
Table(["phase", "seconds", "share of fwd+bwd"],
[
    ["forward", F(sgd.ForwardSeconds, 3), P(sgd.ForwardSeconds / fb)],
    ["backward", F(sgd.BackwardSeconds, 3), P(sgd.BackwardSeconds / fb) + "  (post: ~80%)"],
    ["optimizer", F(sgd.OptimizerSeconds, 3), ""],
    ["wall", F(sgd.WallSeconds, 3), ""],
]);

// 3. A KeepStepping probe (loss only, no graph) against a forward pass with graph (what a gradient step starts with).
var (probe, graph) = ProbeCost(network, options.Steps);
Console.WriteLine("3. KeepStepping probe against a forward pass with graph (median ms)");
Table(["pass", "ms", "relative"],
[
    ["forward with graph", F(graph, 3), "1.00"],
    ["probe (no_grad)", F(probe, 3), F(probe / graph, 2)],
    ["forward + backward", F(graph / (1 - sgd.BackwardShare), 3), F(1 / (1 - sgd.BackwardShare), 2) + "  (from 2.)"],
]);

// 4. Native memory over many trials in one process, on the post's network.
Console.WriteLine($"4. Resident memory over {options.Trials} trials in one process (every optimizer in turn, post's network; newton on linear k=10)");
MemoryRun(network, options.Trials);
return 0;

static double HandLoop(SyntheticTaskSpec spec, double lr, int steps)
{
    torch.manual_seed(0);
    using var x = randn(spec.NRow, spec.DimIn);
    using var y = x.sum(1).reshape(-1, 1);
    var layers = new List<(string, nn.Module<Tensor, Tensor>)> { ("0", nn.Linear(spec.DimIn, spec.DimHidden)) };
    for (var i = 0; i < spec.NLayers; i++) layers.Add(($"{i + 1}", nn.Linear(spec.DimHidden, spec.DimHidden)));
    layers.Add(($"{spec.NLayers + 1}", nn.Linear(spec.DimHidden, 1)));
    using var model = nn.Sequential(layers);
    using var optimizer = optim.SGD(model.parameters(), lr);
    var losses = new float[steps];
    var stamps = new List<double>(steps);
    var start = Stopwatch.GetTimestamp();
    for (var t = 0; t < steps; t++)
    {
        using var scope = NewDisposeScope();
        var loss = nn.functional.mse_loss(model.forward(x), y);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        losses[t] = loss.item<float>();
        stamps.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
    }
    NativeHeap.ReturnFreeMemory(); // as the trainer does after every trial, outside the timed steps
    return StepsPerSecond(stamps);
}

static (double ProbeMs, double GraphMs) ProbeCost(SyntheticTaskSpec spec, int repeats)
{
    using var problem = Descent.Grains.Training.Tasks.Problem.Create(spec, 0, CPU);
    var probe = new List<double>();
    var graph = new List<double>();
    for (var i = 0; i < repeats; i++)
    {
        var t0 = Stopwatch.GetTimestamp();
        using (NewDisposeScope())
            problem.Loss().item<float>();
        graph.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        t0 = Stopwatch.GetTimestamp();
        using (no_grad())
        using (NewDisposeScope())
            problem.Loss().item<float>();
        probe.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
    }
    return (Median(probe), Median(graph));
}

static void MemoryRun(SyntheticTaskSpec network, int trials)
{
    OptimizerSpec[] every =
    [
        new(OptimizerKind.Sgd, 1e-3), new(OptimizerKind.Adam, 1e-3), new(OptimizerKind.Lbfgs, 0.1), new(OptimizerKind.Newton),
        new(OptimizerKind.KeepStepping, 1e-3, 10, 2), new(OptimizerKind.KeepStepping, 1e-3, 10, 2, Variant.Corrected),
        new(OptimizerKind.KeepVaulting, 1e-3, 10), new(OptimizerKind.KeepVaulting, 1e-3, 10, Variant: Variant.Corrected),
    ];
    var linear = new LinearTaskSpec(NRow: network.NRow, Features: 10); // newton's Hessian of the network: 671 backward passes a step
    var rows = new List<string[]>();
    var marks = new[] { trials / 6, trials / 3, trials / 2, 2 * trials / 3, 5 * trials / 6, trials };
    double? baseline = null;
    for (var i = 1; i <= trials; i++)
    {
        var optimizer = every[i % every.Length];
        TaskSpec task = optimizer.Kind == OptimizerKind.Newton ? linear : network;
        var result = Trainer.Run(new TrialSpec(task, optimizer, new Budget(3), Seed: i));
        if (result.Status == TrialStatus.Failed) throw new InvalidOperationException(result.Message);
        if (!marks.Contains(i)) continue;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var rss = ResidentMiB();
        baseline ??= rss;
        rows.Add([i.ToString(), F(rss, 1), (rss - baseline.Value).ToString("+0.0;-0.0"), Tensor.TotalCount.ToString()]);
    }
    Table(["trials", "RSS MiB", "since first mark", "TorchSharp tensor count*"], rows);
    Console.WriteLine("  * TorchSharp 0.107 counts each Parameter twice and releases it once: +14 per trial here, no memory behind it.");
}

static double ResidentMiB()
{
    var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
}

// Steady state: the first step pays for warm caches and allocations, so count from its end.
static double StepsPerSecond(IReadOnlyList<double> stamps) => (stamps.Count - 1) / (stamps[^1] - stamps[0]);

sealed record Options(int Steps, int Rounds, int Trials)
{
    public static Options Parse(string[] args, string command)
    {
        var o = new Options(200, 7, command switch { "orchestration" => 500, "store" => 2000, _ => 240 });
        for (var i = 0; i < args.Length; i++)
        {
            int Next() => i + 1 < args.Length && int.TryParse(args[++i], out var v) && v > 1
                ? v : throw new ArgumentException($"{args[i - 1]} needs a whole number above 1");
            o = args[i] switch
            {
                "--steps" => o with { Steps = Next() },
                "--rounds" => o with { Rounds = Next() },
                "--trials" => o with { Trials = Next() },
                _ => throw new ArgumentException($"unknown option {args[i]} (use --steps N, --rounds N, --trials N)"),
            };
        }
        return o;
    }
}
