using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Tests.Client;

/// <summary>
/// Stop requests as users send them, each timing repeated: whatever arrives, descent-client exits 130, never
/// crashes (139 was seen when libtorch's exit-time destructors ran under a training thread), and every trial that
/// finished before the stop is on disk in whole files, with no temporary file left.
/// </summary>
[Collection(nameof(ClientProcessTests))]
public class StopSignalTests
{
    /// <summary>Runs per timing: 8 (DESCENT_STOP_REPEATS sets more when hunting a race; 20 each ran clean 6 x 20 times).</summary>
    static readonly int Repeats = int.TryParse(Environment.GetEnvironmentVariable("DESCENT_STOP_REPEATS"), out var n) && n > 0 ? n : 8;
    const int SigInt = 2, SigTerm = 15;
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    // One slot: sgd finishes first, in a fraction of a second; adam then trains until stopped; keep-stepping waits in line.
    const string Interruptible = """
        {"name": "interrupted", "task": {"kind": "synthetic", "n_row": 500, "dim_in": 4, "dim_hidden": 4, "n_layers": 1},
         "budget": {"steps": 20},
         "parameters": {"optimizer": ["sgd", "adam", "keep-stepping"]},
         "per_optimizer": {"adam": {"steps": 1000000}, "keep-stepping": {"steps": 1000000}}}
        """;

    // Two slots of one thread each: sgd finishes in a fraction of a second while newton's first step (671
    // parameters: 671 backward passes over 30,000 rows) takes over ten seconds, so a cancel cannot end it before the
    // second request: the client quits while libtorch is busy.
    const string SlowStep = """
        {"name": "slow step", "task": {"kind": "synthetic", "n_row": 30000, "dim_in": 10, "dim_hidden": 10, "n_layers": 5},
         "budget": {"steps": 20},
         "parameters": {"optimizer": ["sgd", "newton"], "max_parameters": 1000},
         "per_optimizer": {"newton": {"steps": 3}}}
        """;

    static string Repository
    {
        get
        {
            for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
                if (File.Exists(Path.Combine(folder.FullName, "Descent.sln"))) return folder.FullName;
            throw new InvalidOperationException($"no Descent.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>The configuration these tests were built in (bin/Debug/net10.0): dotnet run --no-build runs that build.</summary>
    static string Configuration => new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;

    /// <summary><c>dotnet run</c> as the README has users start the client (without rebuilding).</summary>
    static string[] DotnetRun(params string[] args) =>
        [RunningProcess.Dotnet, "run", "--no-build", "-c", Configuration, "--project", Path.Combine(Repository, "src", "Client"), "--", .. args];

    [Fact]
    public Task One_sigterm_from_timeout_around_dotnet_run() => Repeat(3, async (folder, grid) =>
    {
        // timeout sends its signal to dotnet run and to the whole process group, and dotnet run forwards it: the
        // client sees it twice. timeout reacts to a SIGTERM of its own as to its expiry (coreutils' cleanup()), which
        // lets the test send it when a trial has finished instead of guessing a duration.
        var client = RunningProcess.Launch("/usr/bin/timeout", folder, null, ["--preserve-status", "600", .. DotnetRun(Sweep(grid))]);
        await client.WaitFor(err => err.Contains("1/3 done"), Timeout);
        client.Signal(SigTerm);
        return client;
    });

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(300)]
    public Task Two_signals_apart_by(int milliseconds) => Repeat(3, async (folder, grid) =>
    {
        var client = RunningProcess.Client(folder, Sweep(grid));
        await client.WaitFor(err => err.Contains("1/3 done"), Timeout);
        client.Signal(SigInt);
        if (milliseconds > 0) await Task.Delay(milliseconds);
        client.Signal(milliseconds == 100 ? SigTerm : SigInt);
        return client;
    });

    [Fact]
    public Task Ctrl_C_to_the_process_group_of_dotnet_run() => Repeat(3, async (folder, grid) =>
    {
        // A terminal's Ctrl-C: SIGINT to the foreground process group, here dotnet run and the client.
        var client = RunningProcess.Launch("/usr/bin/setsid", folder, null, DotnetRun(Sweep(grid)));
        await client.WaitFor(err => err.Contains("1/3 done"), Timeout);
        client.Signal(SigInt, group: true);
        return client;
    });

    [Fact]
    public async Task A_second_request_a_second_later_quits_while_libtorch_is_busy_and_keeps_what_finished()
    {
        var quit = await Repeat(2, async (folder, grid) =>
        {
            var client = RunningProcess.Client(folder, Sweep(grid, slots: 2));
            await client.WaitFor(err => err.Contains("1/2 done"), Timeout);
            client.Signal(SigInt);
            await Task.Delay(1500);
            client.Signal(SigTerm);
            return client;
        }, SlowStep);
        foreach (var (err, results) in quit)
        {
            Assert.Contains("quitting: writing the finished trials' results", err);
            
            Assert.Contains(Trial(results, "newton").Status, new[] { TrialStatus.Running, TrialStatus.Cancelled });
        }
    }

    [Fact]
    public async Task Ctrl_C_stops_a_huge_validate_or_sweep_within_a_second_and_a_billion_combinations_are_refused_at_once()
    {
        var folder = Directory.CreateTempSubdirectory("descent-stop-").FullName;
        try
        {
            string Values(int count, Func<int, string> value) => string.Join(", ", Enumerable.Range(0, count).Select(value));
            string Grid(int seeds, int rows) => $$$"""
                {"name": "huge", "task": {"kind": "synthetic", "dim_in": 4, "dim_hidden": 4, "n_layers": 1}, "budget": {"steps": 10},
                 "parameters": {"optimizer": "sgd", "lr": [{{{Values(1000, i => ((i + 1) * 1e-6).ToString("R", System.Globalization.CultureInfo.InvariantCulture))}}}],
                                "n_row": [{{{Values(rows, i => $"{i + 100}")}}}], "seed": [{{{Values(seeds, i => $"{i}")}}}]}}
                """;
            var billion = Path.Combine(folder, "billion.json");
            await File.WriteAllTextAsync(billion, Grid(1000, 1000));
            var (exit, _, err) = await RunningProcess.RunClient(folder, TimeSpan.FromSeconds(30), "validate", billion, "--max-trials", "2000000000");
            Assert.True(exit == 2, $"exit {exit}\n{err}");
            Assert.Contains("expands to 1,000,000,000 trials, past the 100,000 a sweep can plan", err);

            // 100,000 trials, the most a sweep plans: seconds of expansion, its memory growing; Ctrl-C in the middle of
            // validate's, then of sweep's (nothing run or written).
            var most = Path.Combine(folder, "most.json");
            await File.WriteAllTextAsync(most, Grid(100, 1));
            foreach (var command in new[] { "validate", "sweep" })
            {
                using var client = RunningProcess.Client(folder, [command, most, "--max-trials", "100000", .. command == "sweep" ? ["--out", "runs"] : Array.Empty<string>()]);
                var deadline = DateTime.UtcNow + Timeout;
                // Past what validating a small grid takes (47 MB): expanding.
                while (Rss(client.Id) < 80 << 20)
                {
                    Assert.False(client.HasExited, $"{command} ended before it was stopped\n{client.Out}\n{client.Err}");
                    Assert.True(DateTime.UtcNow < deadline, $"{command} never grew past 80 MB");
                    await Task.Delay(20);
                }
                var clock = System.Diagnostics.Stopwatch.StartNew();
                client.Signal(SigInt);
                exit = await client.Exit(Timeout);
                Assert.True(exit == 130, $"{command}: exit {exit}\n{client.Err}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{command} ended {clock.Elapsed} after Ctrl-C");
                Assert.Contains(command == "validate" ? "validation stopped on request" : "cancelled while the grid was expanded; nothing was run or written", client.Err);
                Assert.DoesNotContain("valid.", client.Out);
                Assert.False(Directory.Exists(Path.Combine(folder, "runs")));
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A process's resident memory (bytes; 0 once it has gone).</summary>
    static long Rss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    static string[] Sweep(string grid, int slots = 1) => ["sweep", grid, "--out", "runs", "--slots", $"{slots}"];

    static TrialEntry Trial(ResultsDocument results, string optimizer) => results.Trials.Single(t => t.Optimizer == optimizer);

    /// <summary>Runs <paramref name="stop"/> <see cref="Repeats"/> times, <paramref name="concurrent"/> at once, each in a
    /// folder of its own; checks every run and returns each run's standard error and results.json.</summary>
    static async Task<IReadOnlyList<(string Err, ResultsDocument Results)>> Repeat(int concurrent, Func<string, string, Task<RunningProcess>> stop,
        string grid = Interruptible)
    {
        using var gate = new SemaphoreSlim(concurrent);
        var runs = Enumerable.Range(0, Repeats).Select(async run =>
        {
            await gate.WaitAsync();
            var folder = Directory.CreateTempSubdirectory("descent-stop-").FullName;
            try
            {
                var path = Path.Combine(folder, "grid.json");
                await File.WriteAllTextAsync(path, grid);
                using var client = await stop(folder, path);
                var exit = await client.Exit(Timeout);
                return Check(run, exit, client.Err, Path.Combine(folder, "runs"));
            }
            finally
            {
                gate.Release();
                Directory.Delete(folder, recursive: true);
            }
        });
        return await Task.WhenAll(runs);
    }

    /// <summary>Exit 130, no stack trace, and the trial that finished before the stop (sgd, 20 steps) on disk in whole
    /// files beside no temporary one.</summary>
    static (string, ResultsDocument) Check(int run, int exit, string err, string runs)
    {
        var context = $"run {run}: exit {exit}\n{err}";
        Assert.True(exit == 130, context);
        Assert.DoesNotContain("   at ", err);
        var sweep = Assert.Single(Directory.GetDirectories(runs));
        var files = Directory.GetFiles(sweep).Select(Path.GetFileName).ToList();
        Assert.True(files.All(f => !f!.Contains(".tmp", StringComparison.Ordinal)), $"{context}\nfiles: {string.Join(", ", files)}");
        var results = ResultsJson.Read(File.ReadAllBytes(Path.Combine(sweep, "results.json")));
        Assert.Equal(SweepStatus.Cancelled, results.Sweep.Status);
        Assert.Contains("figures and report not drawn (stopped)", err); // a stopped client is not kept waiting for drawings
        var sgd = Trial(results, "sgd");
        Assert.True(sgd.Status == TrialStatus.Completed, context);
        Assert.Equal(20, sgd.History.Count);
        Assert.Contains(sgd.Id, File.ReadAllText(Path.Combine(sweep, "trials.csv")));
        // The journal written as trials ended has it too, once.
        var (_, journaled) = Descent.Client.Output.TrialsJournal.Read(Path.Combine(sweep, "trials.jsonl"));
        Assert.Single(journaled, t => t.Id == sgd.Id);
        return (err, results);
    }
}
