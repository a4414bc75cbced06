using System.Text;
using System.Text.Json;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Training;
using Descent.Results;
using Descent.Sweeps;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Client;

[CollectionDefinition(nameof(ClientProcessTests), DisableParallelization = true)]
public sealed class ClientProcessCollection;

/// <summary>The real descent-client process, end to end: embedded silo, exit codes, table, results on disk, Ctrl-C,
/// and a real descent-silo process as the cluster.</summary>
[Collection(nameof(ClientProcessTests))]
public class ClientProcessTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    const string Quick = """
        {"name": "quick sweep", "task": {"kind": "synthetic", "n_row": 200, "dim_in": 4, "dim_hidden": 4, "n_layers": 1, "seed": 3},
         "budget": {"steps": 20}, "method": "grid", "metric": {"name": "final_loss", "goal": "minimize"},
         "parameters": {"optimizer": {"values": ["sgd", "adam", "keep-stepping"]}, "lr": {"value": 0.01},
                        "max_steps": {"values": [3, 5]}, "scale_i": {"value": 0}}}
        """;

    /// <summary>The sweep's results.json, read through the results model; checks that its journal holds the same trials.</summary>
    /// <param name="drawn">Figures and report.md beside the results (not after a stop request).</param>
    internal static ResultsDocument Results(string outDirectory, bool drawn = true)
    {
        var sweep = Assert.Single(Directory.GetDirectories(outDirectory));
        Assert.Equal(drawn
            ? ["backward_share.png", "backward_share.svg", "loss_vs_gradients.png", "loss_vs_gradients.svg", "loss_vs_time.png",
               "loss_vs_time.svg", "report.md", "results.json", "trials.csv", "trials.jsonl"]
            : ["results.json", "trials.csv", "trials.jsonl"], Directory.GetFiles(sweep).Select(Path.GetFileName).Order());
        var results = ResultsJson.Read(File.ReadAllBytes(Path.Combine(sweep, "results.json")));
        // The journal written as trials ended holds the same trials, with the same numbers, as results.json.
        var journal = Path.Combine(sweep, "trials.jsonl");
        var (header, journaled) = TrialsJournal.Read(journal);
        Assert.Equal(results.Sweep.Id, header.Id);
        Assert.Equal(results.Sweep.TrialCount, header.TrialCount);
        // Every trial that ended, apart from those cancelled before they ran.
        var ended = results.Trials.Where(t => t.Status is TrialStatus.Completed or TrialStatus.Diverged or TrialStatus.Failed || t.StartedAt is not null).ToList();
        Assert.Equal(ended.Select(t => t.Id).Order(), journaled.Select(t => t.Id).Order());
        // Each journal line, as it is on disk, is what the model writes for its trial as results.json has it.
        var lines = File.ReadAllLines(journal).Skip(1).ToDictionary(line => ResultsJson.ReadTrial(line).Id);
        foreach (var twin in ended)
            Assert.Equal(lines[twin.Id] + "\n", Encoding.UTF8.GetString(ResultsJson.Line(twin)));
        return results;
    }

    static object? Field(IReadOnlyList<KeyValuePair<string, object?>> fields, string key) => fields.Single(f => f.Key == key).Value;

    [Fact]
    public async Task Sweep_runs_on_an_embedded_silo_prints_the_leaderboard_and_writes_the_results()
    {
        var folder = Folder();
        var grid = Write(Quick, folder);
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "sweep", grid, "--out", "runs", "--slots", "2");
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.DoesNotContain("   at ", stderr);
        // No OTEL_EXPORTER_OTLP_ENDPOINT: nothing exported, nothing said about it.
        Assert.DoesNotContain("OpenTelemetry", stderr);
        Assert.DoesNotContain("OTLP", stderr);
        foreach (var header in new[] { "rank", "configuration", "final loss", "gradients", "forward passes", "wall s", "backward share" })
            Assert.Contains(header, stdout);
        Assert.Contains("keep-stepping lr=0.01 max_steps=5 scale_i=0 variant=seed", stdout);
        Assert.Contains("4/4 done (4 completed)", stderr);

        var results = Results(Path.Combine(folder, "runs"));
        var sweep = results.Sweep;
        Assert.Equal("quick sweep", sweep.Name);
        Assert.Equal(SweepStatus.Done, sweep.Status);
        Assert.Equal(4, sweep.TrialCount);
        Assert.Equal(MetricKind.FinalLoss, sweep.Metric);
        Assert.StartsWith("quick-sweep-", sweep.Id);
        Assert.True(sweep.FinishedAt >= sweep.StartedAt);

        var plan = GridFile.Load(grid);
        var trials = results.Trials;
        Assert.Equal(plan.Trials.Select(t => t.Id), trials.Select(t => t.Id));
        foreach (var trial in trials)
        {
            Assert.Equal(TrialStatus.Completed, trial.Status);
            Assert.Equal(["optimizer", "variant", "lr", "max_steps", "scale_i"], trial.Config.Select(c => c.Key));
            Assert.Equal("synthetic", Field(trial.Task, "kind"));
            Assert.Equal(200L, Field(trial.Task, "n_row"));
            Assert.Equal(new Budget(20), trial.Budget);
            Assert.Equal(20L, trial.GradientEvaluations);
            Assert.Equal(1, trial.Attempts);
            Assert.StartsWith("cpu:", trial.Device);
            Assert.False(string.IsNullOrEmpty(trial.Silo));
            foreach (var total in new[] { trial.FinalLoss, trial.BestLoss, trial.ForwardPasses, trial.ForwardSeconds, trial.BackwardSeconds, trial.WallSeconds })
                Assert.NotNull(total);
            Assert.Equal(Enumerable.Range(1, 20), trial.History.Select(h => h.Step));
            Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), trial.History.Select(h => h.GradientEvaluations));
        }
        var sgd = trials.Single(t => t.Optimizer == "sgd");
        Assert.Contains(new KeyValuePair<string, object?>("max_steps", null), sgd.Config);

        // history[k].loss is the loss at the start of step k+1: the same trial trained here gives the same losses.
        var spec = plan.Trials.Single(t => t.Spec.Optimizer.Kind == OptimizerKind.Sgd).Spec;
        var local = Trainer.Run(spec);
        Assert.Equal(local.History.Select(h => h.Loss), sgd.History.Select(h => h.Loss), (a, b) => Math.Abs(a - b) <= 1e-5 * Math.Max(1, Math.Abs(a)));
        Assert.Equal(local.FinalLoss, sgd.FinalLoss!.Value, 1e-5);

        var leaderboard = results.Leaderboard;
        Assert.Equal([1, 2, 3, 4], leaderboard.Select(r => r.Rank));
        var losses = leaderboard.Select(r => r.FinalLoss!.Value).ToList();
        Assert.Equal(losses.Order(), losses);
        foreach (var row in leaderboard)
        {
            var trial = trials.Single(t => t.Id == row.Trial);
            Assert.Equal(trial.FinalLoss, row.FinalLoss);
            Assert.Equal(trial.Optimizer, row.Optimizer);
            Assert.Equal(trial.Configuration, row.Configuration);
        }

        // report.md, written at the end of the sweep, shows results.json's numbers.
        var sweepFolder = Directory.GetDirectories(Path.Combine(folder, "runs"))[0];
        var report = File.ReadAllText(Path.Combine(sweepFolder, "report.md"));
        foreach (var row in leaderboard)
            Assert.Contains($"| {row.Rank} | `{row.Trial}` |", report);
        foreach (var trial in trials)
            Assert.Contains($" {Descent.Client.Reports.Report.Number(trial.FinalLoss)} | 20 | ", report);
        Assert.Contains("figures and report in", stderr);
        Assert.DoesNotContain("Unsupported path effect", stderr);

        // plot draws the figures again from the sweep's id.
        File.Delete(Path.Combine(sweepFolder, "loss_vs_time.png"));
        var (plotExit, plotOut, plotErr) = await RunningProcess.RunClient(folder, Timeout, "plot", Path.GetFileName(sweepFolder), "--out", "runs");
        Assert.True(plotExit == 0, plotErr);
        // Skia's SVG canvas printed "Unsupported path effect in addPaint" for every dashed line.
        Assert.Equal("", plotErr);
        Assert.Contains("loss_vs_time.png", plotOut);
        Assert.True(File.Exists(Path.Combine(sweepFolder, "loss_vs_time.png")));
        (plotExit, _, plotErr) = await RunningProcess.RunClient(folder, Timeout, "report", "no-such-sweep");
        Assert.Equal(2, plotExit);
        Assert.Contains("results = \"no-such-sweep\"", plotErr);

        var csv = File.ReadAllLines(Path.Combine(sweepFolder, "trials.csv"));
        Assert.Equal(5, csv.Length);
        Assert.StartsWith("id,optimizer,variant,lr,max_steps,scale_i,task,status,final_loss,", csv[0]);
    }

    [Fact]
    public async Task Json_prints_the_results_document_and_validate_counts_trials()
    {
        var folder = Folder();
        var grid = Write(Quick, folder);
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "sweep", grid, "--json", "--out", "out");
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        var printed = ResultsJson.Read(Encoding.UTF8.GetBytes(stdout));
        var written = Results(Path.Combine(folder, "out"));
        Assert.Equal(written.Sweep.Id, printed.Sweep.Id);
        Assert.Equal(4, printed.Trials.Count);
        // The same text as the file, character for character.
        Assert.Equal(File.ReadAllText(Path.Combine(folder, "out", written.Sweep.Id, "results.json")), stdout.TrimEnd('\n'));

        // 3 optimizers x 2 max_steps: 6 combinations; sgd and adam do not read max_steps, so 2 of them collapse.
        (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "validate", grid);
        Assert.True(exit == 0, stderr);
        Assert.Contains("runs 4 trials: 6 combinations, 2 of them collapsed into equal trials", stdout);
        (exit, stdout, _) = await RunningProcess.RunClient(folder, Timeout, "validate", grid, "--json");
        Assert.Equal(0, exit);
        var validated = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(4, validated.GetProperty("trials").GetInt32());
        Assert.Equal(6, validated.GetProperty("expanded").GetInt32());
        Assert.Equal(2, validated.GetProperty("collapsed").GetInt32());
    }

    [Fact]
    public async Task The_console_says_why_each_failed_or_diverged_trial_ended()
    {
        // 2e9 x 1000 inputs cannot be held (8 TB): failed before allocating; lr 1e6 on 200 rows diverges.
        var folder = Folder();
        var grid = Write("""
            {"name": "why", "task": {"kind": "synthetic", "dim_in": 1000, "dim_hidden": 4, "n_layers": 1},
             "budget": {"steps": 20}, "parameters": {"optimizer": "sgd", "lr": 1e6, "n_row": [2000000000, 200]}}
            """, folder);
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "sweep", grid, "--out", "runs", "--slots", "1");
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        var trials = Results(Path.Combine(folder, "runs")).Trials.ToDictionary(t => (long)Field(t.Config, "n_row")!, t => t.Id);
        Assert.Matches($@"\nfailed {trials[2_000_000_000]} sgd lr=1000000 n_row=2000000000: task synthetic n_row=2000000000, dim_in=1000, dim_hidden=4, "
            + @"n_layers=1 needs about 8\.\d TB \(inputs 8 TB, targets 8 GB, .*\); this silo has [\d.]+ [GMT]B available\n", stdout);
        Assert.Matches($@"\ndiverged {trials[200]} sgd lr=1000000 n_row=200: the loss became (NaN|-?Infinity|∞) (before|after) step \d+\n", stdout);
    }

    [Fact]
    public async Task Bad_input_exits_2_naming_field_and_value_without_a_stack_trace_or_any_file()
    {
        var folder = Folder();
        var bad = Write("""
            {"task": {"kind": "synthetic", "n_row": 0, "dim_in": 3, "dim_hidden": 4, "n_layers": 1},
             "parameters": {"optimizer": ["sgd", "keep-steping"], "lr": [-0.1]}}
            """, folder, "bad.json");
        var good = Write(Quick, folder);
        var cases = new (string[] Args, string Expected)[]
        {
            (["sweep", bad, "--out", "runs"], "task.n_row = 0: must be at least 1"),
            (["sweep", bad, "--out", "runs"], "parameters.optimizer[1] = \"keep-steping\": unknown optimizer; did you mean \"keep-stepping\"?"),
            (["sweep", bad, "--out", "runs"], "line 2, column 62: parameters.lr[0] = -0.1: must be a finite number above 0"),
            (["validate", bad], "3 problems; nothing was started or written"),
            (["sweep", Path.Combine(folder, "missing.json"), "--out", "runs"], "no such file"),
            (["sweep", Write("{\"task\": ", folder, "broken.json"), "--out", "runs"], "line 1, column 10"),
            (["sweep", good, "--out", "runs", "--slots", "0"], "--slots = 0: must be at least 1"),
            (["sweep", good, "--out", "runs", "--max-trials", "3"], "cap of 3"),
            (["sweep", good, "--out", "runs", "--cluster", "nowhere"], "--cluster = \"nowhere\": expected a gateway as host:port"),
            (["sweep", good, "--out", good], "is a file"),
            (["sweep", good, "--out", "runs", "--bogus"], "--bogus"),
            (["status", "some-sweep"], "status needs a cluster"),
            (["frobnicate"], "frobnicate"),
        };
        foreach (var (args, expected) in cases)
        {
            var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, args);
            Assert.True(exit == 2, $"{string.Join(" ", args)}: exit {exit}\n{stdout}\n{stderr}");
            Assert.True(stderr.Contains(expected, StringComparison.Ordinal), $"{string.Join(" ", args)}: expected \"{expected}\" in\n{stderr}");
            Assert.DoesNotContain("   at ", stderr + stdout);
        }
        Assert.False(Directory.Exists(Path.Combine(folder, "runs")));
    }

    [Fact]
    public async Task Bad_silo_settings_exit_2_with_a_line_naming_each_setting_and_its_value()
    {
        var folder = Folder();
        using (var silo = RunningProcess.Start("descent-silo.dll", folder, "--Descent:Storage=disk", "--Descent:Devices:CpuSlots=0",
                   "--Descent:SiloPort=" + RunningProcess.FreePort(), "--Descent:GatewayPort=" + RunningProcess.FreePort()))
        {
            Assert.Equal(2, await silo.Exit(Timeout));
            Assert.Equal(["descent-silo: Descent:Storage = \"disk\": expected memory or process or redis or local", "descent-silo: Descent:Devices:CpuSlots = 0: must be at least 1"],
                silo.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.DoesNotContain("   at ", silo.Out + silo.Err);
        }
        using (var silo = RunningProcess.Start("descent-silo.dll", folder, "--Descent:SiloPort=many"))
        {
            Assert.Equal(2, await silo.Exit(Timeout));
            Assert.Equal("descent-silo: Failed to convert configuration value 'many' at 'Descent:SiloPort' to type 'System.Int32'.", silo.Err.Trim());
        }

        // The embedded silo reads the same settings from DESCENT__* variables; where it listens and stores is its own.
        const string Prefix = "descent-client: the embedded silo's settings (DESCENT__* variables): ";
        var cases = new (Dictionary<string, string> Environment, string Expected)[]
        {
            (new() { ["DESCENT__DEVICES__CPUSLOTS"] = "0", ["DESCENT__CLUSTERING"] = "zookeeper", ["Descent__PrimarySiloPort"] = "0", ["DESCENT__STORAGE"] = "disk" },
                Prefix + "Descent:Devices:CpuSlots = 0: must be at least 1"),
            (new() { ["DESCENT__TRACING__EVERYSTEP"] = "often" },
                Prefix + "Failed to convert configuration value 'often' at 'Descent:Tracing:EveryStep' to type 'System.Int32'."),
        };
        foreach (var (environment, expected) in cases)
        {
            using var client = RunningProcess.Launch("descent-client.dll", folder, environment, "sweep", Write(Quick, folder), "--out", "runs");
            var exit = await client.Exit(Timeout);
            Assert.True(exit == 2, $"exit {exit}\n{client.Out}\n{client.Err}");
            Assert.Equal([expected], client.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith(Prefix, StringComparison.Ordinal)));
            Assert.DoesNotContain("   at ", client.Out + client.Err);
        }
        Assert.False(Directory.Exists(Path.Combine(folder, "runs")));
    }

    [Fact]
    public async Task A_silo_whose_local_store_is_in_use_exits_2_naming_the_holder()
    {
        var folder = Folder();
        var store = Path.Combine(folder, "state");
        using (Descent.Silo.GrainStateDatabase.Open(store))
        {
            using var silo = RunningProcess.Start("descent-silo.dll", folder, "--Descent:Storage=local", $"--Descent:StoragePath={store}",
                "--Descent:SiloPort=" + RunningProcess.FreePort(), "--Descent:GatewayPort=" + RunningProcess.FreePort());
            Assert.Equal(2, await silo.Exit(Timeout));
            Assert.Equal([$"descent-silo: Descent:StoragePath: the grain store in {store} is in use by another process (pid {Environment.ProcessId})"],
                silo.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }

    [Fact]
    public async Task A_second_silo_on_a_live_silos_ports_exits_2_and_the_live_silo_goes_on()
    {
        var folder = Folder();
        var (siloPort, gateway) = (RunningProcess.FreePort(), RunningProcess.FreePort());
        string[] ports = ["--Descent:SiloPort=" + siloPort, "--Descent:GatewayPort=" + gateway, "--Descent:Devices:CpuSlots=1", "--Descent:ClusterId=twice"];
        using var live = RunningProcess.Start("descent-silo.dll", folder, ports);
        await live.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);

        // Before, the second silo joined as a newer version of the first, which the cluster then declared dead.
        using (var second = RunningProcess.Start("descent-silo.dll", folder, ports))
        {
            Assert.Equal(2, await second.Exit(TimeSpan.FromSeconds(60)));
            Assert.Equal([$"descent-silo: Descent:SiloPort = {siloPort} on 127.0.0.1 is in use (another silo or process listens there)",
                $"descent-silo: Descent:GatewayPort = {gateway} on 127.0.0.1 is in use (another silo or process listens there)"],
                second.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(live.HasExited, live.Out + live.Err);
        var (exit, _, stderr) = await RunningProcess.RunClient(folder, Timeout, "status", "no-such-sweep", "--cluster", $"127.0.0.1:{gateway}", "--cluster-id", "twice");
        Assert.True(exit == 2, stderr);
        Assert.Contains("no such sweep", stderr);
        Assert.DoesNotContain("Marking other older clone as Dead", live.Out + live.Err);
    }

    [Fact]
    public async Task A_silo_started_again_at_once_on_its_port_is_not_refused_for_its_last_connections()
    {
        // A silo killed and started again: the connections it closed wait in TIME_WAIT on its port, which no one
        // listens on. Its listener (and the ones it accepted) reused addresses, as the silo's own listener does.
        var folder = Folder();
        var port = RunningProcess.FreePort();
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
        listener.Server.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
        listener.Start();
        using (var peer = new System.Net.Sockets.TcpClient())
        {
            await peer.ConnectAsync(System.Net.IPAddress.Loopback, port);
            using (var accepted = await listener.AcceptTcpClientAsync()) accepted.Client.Close(); // this side closes first
            listener.Stop();
            await Task.Delay(200);
        }
        await Task.Delay(200);
        using var silo = RunningProcess.Start("descent-silo.dll", folder, "--Descent:SiloPort=" + port, "--Descent:GatewayPort=" + RunningProcess.FreePort());
        await silo.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);
    }

    [Fact]
    public async Task A_silo_whose_Redis_does_not_answer_exits_1_with_a_line_naming_Descent_Redis()
    {
        var folder = Folder();
        var redis = $"127.0.0.1:{RunningProcess.FreePort()}";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Before, the silo retried for ~17 s and died of an unhandled RedisConnectionException (exit 134, ~100 lines).
        using var silo = RunningProcess.Start("descent-silo.dll", folder, "--Descent:Clustering=redis", $"--Descent:Redis=redis://:secret@{redis}",
            "--Descent:SiloPort=" + RunningProcess.FreePort(), "--Descent:GatewayPort=" + RunningProcess.FreePort());
        Assert.Equal(1, await silo.Exit(TimeSpan.FromSeconds(60)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{clock.Elapsed}");
        var line = Assert.Single(silo.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"descent-silo: Descent:Redis: cannot reach Redis at {redis}: ", line);
        Assert.DoesNotContain("secret", silo.Out + silo.Err);
    }

    [Fact]
    public async Task An_unreachable_cluster_is_a_runtime_failure()
    {
        var folder = Folder();
        var (exit, _, stderr) = await RunningProcess.RunClient(folder, Timeout,
            "sweep", Write(Quick, folder), "--out", "runs", "--cluster", $"127.0.0.1:{RunningProcess.FreePort()}");
        Assert.True(exit == 1, stderr);
        Assert.Contains("cannot reach the cluster", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(Path.Combine(folder, "runs")));
    }

    [Fact]
    public async Task A_cluster_Redis_that_does_not_answer_fails_within_seconds_with_a_line_naming_the_option()
    {
        var folder = Folder();
        var redis = $"127.0.0.1:{RunningProcess.FreePort()}";
        // Before: 45-50 s, a 1.2 KB StackExchange.Redis dump, after announcing the sweep's trials "on the cluster".
        foreach (var (environment, args, source) in new (Dictionary<string, string>, string[], string)[]
                 {
                     (new(), ["--cluster", $"redis://{redis}"], "--cluster"),
                     (new() { ["DESCENT_CLUSTER"] = $"redis://:secret@{redis}" }, [], "DESCENT_CLUSTER"),
                 })
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var client = RunningProcess.Launch("descent-client.dll", folder, environment, ["sweep", Write(Quick, folder), "--out", "runs", .. args]);
            var exit = await client.Exit(TimeSpan.FromSeconds(90));
            Assert.True(exit == 1, $"exit {exit}\n{client.Out}\n{client.Err}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{clock.Elapsed}");
            var line = Assert.Single(client.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"descent-client: {source}: cannot reach Redis at {redis}: ", line);
            Assert.DoesNotContain("secret", client.Out + client.Err);
        }
        Assert.False(Directory.Exists(Path.Combine(folder, "runs")));
    }

    /// <summary>One CPU slot: a quick trial, then a long one, then a long one waiting. Ctrl-C after the first ends.</summary>
    const string Interruptible = """
        {"name": "interrupted", "task": {"kind": "synthetic", "n_row": 500, "dim_in": 4, "dim_hidden": 4, "n_layers": 1},
         "budget": {"steps": 20},
         "parameters": {"optimizer": ["sgd", "adam", "keep-stepping"]},
         "per_optimizer": {"adam": {"steps": 1000000}, "keep-stepping": {"steps": 1000000}}}
        """;

    [Fact]
    public async Task A_client_killed_mid_sweep_leaves_every_finished_trial_on_disk_for_plot_and_report()
    {
        var folder = Folder();
        using var client = RunningProcess.Client(folder, "sweep", Write(Interruptible, folder), "--out", "runs", "--slots", "1");
        await client.WaitFor(err => err.Contains("1/3 done (1 completed)"), Timeout);
        client.Signal(9); // SIGKILL: no handler runs, nothing is written at the end
        await client.Exit(Timeout);

        var sweep = Assert.Single(Directory.GetDirectories(Path.Combine(folder, "runs")));
        Assert.Equal(["trials.jsonl"], Directory.GetFiles(sweep).Select(Path.GetFileName));
        var (header, trials) = TrialsJournal.Read(Path.Combine(sweep, "trials.jsonl"));
        Assert.Equal("interrupted", header.Name);
        Assert.Equal(3, header.TrialCount);
        var sgd = Assert.Single(trials);
        Assert.Equal("sgd", sgd.Optimizer);
        Assert.Equal(TrialStatus.Completed, sgd.Status);
        Assert.Equal(20, sgd.History.Count);

        // report and plot read the journal when there is no results.json.
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "report", sweep);
        Assert.True(exit == 0, stderr);
        var report = File.ReadAllText(Path.Combine(sweep, "report.md"));
        Assert.Contains(sgd.Id, report);
        Assert.Contains("unfinished, 1 of its 3 trials ended", report);
        Assert.Contains("Numbers from [trials.jsonl](trials.jsonl)", report);
        (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "plot", Path.GetFileName(sweep), "--out", "runs");
        Assert.True(exit == 0, stderr);
        Assert.Contains("loss_vs_gradients.png", stdout);
    }

    [Fact]
    public async Task Ctrl_C_cancels_the_sweep_keeps_finished_results_and_exits_130()
    {
        var folder = Folder();
        using var client = RunningProcess.Client(folder, "sweep", Write(Interruptible, folder), "--out", "runs", "--slots", "1");
        await client.WaitFor(err => err.Contains("1/3 done (1 completed)"), Timeout);
        await Task.Delay(1000); // adam is a few hundred steps in
        client.Interrupt();
        var exit = await client.Exit(Timeout);
        Assert.True(exit == 130, $"exit {exit}\n{client.Out}\n{client.Err}");
        Assert.Contains("cancelling", client.Err);
        Assert.DoesNotContain("   at ", client.Err);

        var results = Results(Path.Combine(folder, "runs"), drawn: false);
        Assert.Equal(SweepStatus.Cancelled, results.Sweep.Status);
        var trials = results.Trials.ToDictionary(t => t.Optimizer);
        Assert.Equal(TrialStatus.Completed, trials["sgd"].Status);
        Assert.Equal(20, trials["sgd"].History.Count);
        var adam = trials["adam"];
        Assert.Equal(TrialStatus.Cancelled, adam.Status);
        Assert.InRange(adam.History.Count, 1, 999_999);
        Assert.NotNull(adam.FinalLoss);
        var waiting = trials["keep-stepping"];
        Assert.Equal(TrialStatus.Cancelled, waiting.Status);
        Assert.Empty(waiting.History);
        Assert.Null(waiting.StartedAt); // placed in its silo's line, never started
        Assert.Contains("sgd lr=0.001", client.Out); // the leaderboard of what finished
    }

    [Fact]
    public async Task Against_a_running_silo_sweep_status_leaderboard_and_cancel_work()
    {
        var folder = Folder();
        var gateway = RunningProcess.FreePort();
        using var silo = RunningProcess.Start("descent-silo.dll", folder, "--Descent:SiloPort=" + RunningProcess.FreePort(),
            "--Descent:GatewayPort=" + gateway, "--Descent:Devices:CpuSlots=1", "--Descent:ClusterId=e2e");
        await silo.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);
        string[] cluster = ["--cluster", $"127.0.0.1:{gateway}", "--cluster-id", "e2e"];

        using var client = RunningProcess.Client(folder, ["sweep", Write(Interruptible, folder), "--out", "runs", .. cluster]);
        await client.WaitFor(err => err.Contains("1/3 done (1 completed)"), Timeout);
        var id = client.Err.Split('(', ')')[1];

        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, ["status", id, .. cluster]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("1/3 done (1 completed), 1 running, 1 queued", stdout);
        Assert.Contains("adam lr=0.001", stdout);

        (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, ["leaderboard", id, "--json", .. cluster]);
        Assert.True(exit == 0, stderr);
        var board = ResultsJson.Read(Encoding.UTF8.GetBytes(stdout));
        Assert.Equal(SweepStatus.Running, board.Sweep.Status);
        var sgd = Assert.Single(board.Leaderboard);
        Assert.Equal("sgd", sgd.Optimizer);
        Assert.Equal("sgd lr=0.001", sgd.Configuration);

        (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, ["cancel", id, .. cluster]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("cancelled", stdout);
        Assert.Equal(130, await client.Exit(Timeout));
        Assert.Equal(SweepStatus.Cancelled, Results(Path.Combine(folder, "runs")).Sweep.Status);

        (exit, _, stderr) = await RunningProcess.RunClient(folder, Timeout, ["status", "no-such-sweep", .. cluster]);
        Assert.Equal(2, exit);
        Assert.Contains("sweep id = \"no-such-sweep\": no such sweep", stderr);
    }

    [Fact]
    public async Task With_a_sweep_id_SIGTERM_detaches_and_the_same_command_re_attaches()
    {
        var folder = Folder();
        var gateway = RunningProcess.FreePort();
        using var silo = RunningProcess.Start("descent-silo.dll", folder, "--Descent:SiloPort=" + RunningProcess.FreePort(),
            "--Descent:GatewayPort=" + gateway, "--Descent:Devices:CpuSlots=1", "--Descent:ClusterId=detach");
        await silo.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);
        string[] cluster = ["--cluster", $"127.0.0.1:{gateway}", "--cluster-id", "detach"];
        string[] sweep = ["sweep", Write(Interruptible, folder), "--out", "runs", "--sweep-id", "job-1", "--detach-on-sigterm", .. cluster];

        // A sweep Job's pod evicted: SIGTERM stops the client, not the sweep (before, it cancelled the sweep).
        using (var first = RunningProcess.Client(folder, sweep))
        {
            await first.WaitFor(err => err.Contains("1/3 done (1 completed)"), Timeout);
            first.Signal(15);
            Assert.Equal(1, await first.Exit(Timeout));
            Assert.Contains("SIGTERM: stopped following sweep job-1, which runs on on the cluster 127.0.0.1:" + gateway, first.Err);
            Assert.Contains($"`descent-client status job-1 --cluster 127.0.0.1:{gateway} --cluster-id detach` shows it", first.Err);
        }
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, ["status", "job-1", .. cluster]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("status: running", stdout);

        // The Job's next pod runs the same command: it follows the same sweep, and the journal goes on without repeats.
        using (var second = RunningProcess.Client(folder, sweep))
        {
            await second.WaitFor(err => err.Contains("descent-client: sweep \"interrupted\" (job-1): 3 trials on the cluster"), Timeout);
            await second.WaitFor(err => err.Contains("1/3 done (1 completed)"), Timeout);
            (exit, _, stderr) = await RunningProcess.RunClient(folder, Timeout, ["cancel", "job-1", .. cluster]);
            Assert.True(exit == 0, stderr);
            Assert.Equal(130, await second.Exit(Timeout));
        }
        var results = Results(Path.Combine(folder, "runs"));
        Assert.Equal(SweepStatus.Cancelled, results.Sweep.Status);
        var (_, journaled) = TrialsJournal.Read(Path.Combine(folder, "runs", "job-1", "trials.jsonl"));
        Assert.Equal(journaled.Select(t => t.Id).Distinct().Count(), journaled.Count);

        // Another grid under the id is refused; so is an id for the embedded silo.
        (exit, _, stderr) = await RunningProcess.RunClient(folder, Timeout, ["sweep", Write(Quick, folder), "--out", "runs", "--sweep-id", "job-1", .. cluster]);
        Assert.True(exit == 2, stderr);
        Assert.Contains("--sweep-id = \"job-1\": it is already used by another sweep (\"interrupted\")", stderr);
        (exit, _, stderr) = await RunningProcess.RunClient(folder, Timeout, ["sweep", Write(Quick, folder), "--out", "runs", "--sweep-id", "job-2"]);
        Assert.True(exit == 2, stderr);
        Assert.Contains("--sweep-id = \"job-2\": only a cluster's sweep takes a given id", stderr);
    }

    [Fact]
    public async Task On_a_terminal_the_progress_is_a_live_view_of_the_running_trials()
    {
        // script(1) gives the client a pseudo-terminal, as a user's shell would.
        var folder = Folder();
        var grid = Write(Quick.Replace("\"steps\": 20", "\"steps\": 400"), folder);
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var command = $"stty cols 140; exec {dotnet} {Path.Combine(AppContext.BaseDirectory, "descent-client.dll")} sweep {grid} --out runs";
        var typescript = Path.Combine(folder, "typescript");
        using var terminal = RunningProcess.Launch("/usr/bin/script", folder, null, "-qec", command, typescript);
        var exit = await terminal.Exit(Timeout);
        var screen = File.ReadAllText(typescript);
        Assert.True(exit == 0, $"exit {exit}\n{screen}");
        Assert.Contains("\u001b[", screen); // ANSI control sequences: a live display, not plain lines
        Assert.Contains("quick sweep", screen);
        // The live view's table of running trials (the leaderboard has no device or step column).
        Assert.Matches(@"trial\s+configuration\s+device\s+step\s+loss", screen);
        Assert.Contains("cpu:0", screen);
        Assert.Contains("running", screen);
        Assert.Contains("4/4 done (4 completed)", screen);
        Assert.DoesNotContain("[    0s]", screen); // the plain progress lines are for pipes and files
        Assert.Contains("rank", screen);
        // 140 columns: the leaderboard leaves out the columns least needed, says so, and wraps no number.
        Assert.Contains("forward passes, wall s: in results.json", screen);
        var results = Results(Path.Combine(folder, "runs"));
        foreach (var trial in results.Trials)
            Assert.Contains(Descent.Client.Output.Views.Loss(trial.FinalLoss), screen);
    }
}
