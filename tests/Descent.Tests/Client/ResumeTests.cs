using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Results;
using Descent.Silo;
using Microsoft.Data.Sqlite;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Client;

/// <summary><c>descent-client resume</c> on the real process: a sweep whose client was killed with SIGKILL continues
/// from the embedded silo's store beside its results, without running a finished trial again.</summary>
[Collection(nameof(ClientProcessTests))]
public class ResumeTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>One CPU slot: four quick sgd trials, then four adam trials of 3 s each (a time budget, so that the kill
    /// lands inside the first one however busy the machine is).</summary>
    const string Resumable = """
        {"name": "resumable", "task": {"kind": "synthetic", "n_row": 200, "dim_in": 4, "dim_hidden": 4, "n_layers": 1},
         "budget": {"steps": 30}, "repeats": 4,
         "parameters": {"optimizer": ["sgd", "adam"]},
         "per_optimizer": {"adam": {"steps": 1000000, "seconds": 3}}}
        """;

    static string Journal(string runs) => Path.Combine(Assert.Single(Directory.GetDirectories(runs)), TrialsJournal.FileName);

    static int Lines(string path) => File.Exists(path) ? File.ReadAllText(path).Count(c => c == '\n') : 0;

    [Fact]
    public async Task A_sweep_whose_client_was_killed_resumes_without_running_a_finished_trial_again()
    {
        var folder = Folder();
        var runs = Path.Combine(folder, "runs");
        using (var client = RunningProcess.Client(folder, "sweep", Write(Resumable, folder), "--out", "runs", "--slots", "1"))
        {
            // The four sgd trials are on disk; the first adam trial is running.
            var deadline = DateTime.UtcNow + Timeout;
            while (!(Directory.Exists(runs) && Directory.GetDirectories(runs).Length == 1 && Lines(Journal(runs)) >= 5))
            {
                Assert.True(DateTime.UtcNow < deadline, $"4 trials did not end in time\n{client.Err}");
                await Task.Delay(50);
            }
            await Task.Delay(1000);
            client.Signal(9); // SIGKILL: no handler runs, nothing is written at the end
            await client.Exit(Timeout);
        }
        var journal = Journal(runs);
        var sweepFolder = Path.GetDirectoryName(journal)!;
        var id = Path.GetFileName(sweepFolder);
        var before = File.ReadAllText(journal);
        var (_, ended) = TrialsJournal.Read(journal);
        Assert.Equal(["sgd", "sgd", "sgd", "sgd"], ended.Select(t => t.Optimizer));
        Assert.False(File.Exists(Path.Combine(sweepFolder, "results.json")));

        var resumedAt = DateTimeOffset.UtcNow;
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "resume", id, "--out", "runs", "--slots", "1");
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.Contains($"resuming sweep \"resumable\" ({id}): 4 of 8 trials had ended", stderr);
        Assert.Contains("8/8 done (8 completed)", stderr);
        Assert.DoesNotContain("   at ", stderr);

        // The same outputs as a sweep's (the journal holding the same trials as results.json, line for line).
        var results = ClientProcessTests.Results(runs);
        Assert.Equal(SweepStatus.Done, results.Sweep.Status);
        Assert.Equal(8, results.Trials.Count);
        Assert.All(results.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        // The journal was continued: the lines written before the kill are untouched, and no trial has a second line.
        var after = File.ReadAllText(journal);
        Assert.StartsWith(before, after);
        var (_, journaled) = TrialsJournal.Read(journal);
        Assert.Equal(8, journaled.Select(t => t.Id).Distinct().Count());
        Assert.Equal(8, journaled.Count);

        // Trials that had ended were not run again: one attempt, the results the killed client had written (same
        // numbers, same start, the killed process's silo); the trial that was running ran again as attempt 2.
        var trials = results.Trials.ToDictionary(t => t.Id);
        foreach (var old in ended)
        {
            var now = trials[old.Id];
            Assert.Equal(1, now.Attempts);
            Assert.Equal((old.FinalLoss, old.WallSeconds, old.StartedAt, old.Silo), (now.FinalLoss, now.WallSeconds, now.StartedAt, now.Silo));
        }
        var adam = results.Trials.Where(t => t.Optimizer == "adam").ToList();
        // The one running at the kill is on its second lease; the others' first lease may have been lost too, when the
        // slot held them ready behind it (leased ahead, Descent:Leases:Ahead): never more than two.
        Assert.Equal(2, adam[0].Attempts);
        Assert.All(adam.Skip(1), t => Assert.InRange(t.Attempts, 1, 2));
        Assert.All(adam, t => Assert.NotEqual(ended[0].Silo, t.Silo));
        Assert.All(adam, t => Assert.Equal("time budget of 3 s reached", t.Message));
        // The lease the killed process's silo held was taken back as the coordinator woke, not a lease timeout (30 s) later.
        Assert.InRange(adam[0].StartedAt!.Value - resumedAt, TimeSpan.Zero, TimeSpan.FromSeconds(20));

        // Resuming a sweep that has ended changes nothing.
        var written = File.GetLastWriteTimeUtc(Path.Combine(sweepFolder, "results.json"));
        (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "resume", id, "--out", "runs");
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.Contains($"sweep {id} has already ended (done; 8/8 done (8 completed)", stderr);
        Assert.Contains("nothing to resume, nothing written", stderr);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(sweepFolder, "results.json")));
        Assert.Equal(after, File.ReadAllText(journal));
    }

    [Fact]
    public async Task Resume_refuses_an_unknown_sweep_a_folder_without_state_a_sweep_in_use_and_a_store_of_another_version()
    {
        var folder = Folder();
        var runs = Path.Combine(folder, "runs");
        Directory.CreateDirectory(Path.Combine(runs, "no-state"));
        async Task Refused(string id, string expected)
        {
            var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "resume", id, "--out", "runs");
            Assert.True(exit == 2, $"resume {id}: exit {exit}\n{stdout}\n{stderr}");
            Assert.True(stderr.Contains(expected, StringComparison.Ordinal), $"resume {id}: expected \"{expected}\" in\n{stderr}");
            Assert.DoesNotContain("   at ", stderr + stdout);
        }
        await Refused("no-such-sweep", $"sweep id = \"no-such-sweep\": no folder {Path.Combine("runs", "no-such-sweep")} (--out = \"runs\"");
        await Refused("no-state", $"sweep id = \"no-state\": {Path.Combine("runs", "no-state")} has no saved state ({Path.Combine(runs, "no-state", "state")}): "
            + "only sweeps run on the embedded silo can be resumed");

        string id;
        // Trials of a minute: the sweep is still running, however busy the machine, when the second client tries it.
        using (var client = RunningProcess.Client(folder, "sweep", Write(Resumable.Replace("\"seconds\": 3", "\"seconds\": 60"), folder), "--out", "runs", "--slots", "1"))
        {
            await client.WaitFor(err => err.Contains("/8 done (", StringComparison.Ordinal), Timeout); // a trial has ended
            id = client.Err.Split('(', ')')[1];
            // While its client runs, the sweep is that client's.
            await Refused(id, $"sweep {id} is being run by another descent-client (pid {client.Id}); its store is {Path.Combine(runs, id, "state")}");
            client.Signal(9);
            await client.Exit(Timeout);
        }

        // A store written in another format (a future version) is refused, and left as it was.
        var store = Path.Combine(runs, id, "state", GrainStateDatabase.FileName);
        using (var database = new SqliteConnection($"Data Source={store};Pooling=False"))
        {
            database.Open();
            using var version = database.CreateCommand();
            version.CommandText = "PRAGMA user_version = 9";
            version.ExecuteNonQuery();
        }
        var bytes = File.ReadAllBytes(store);
        await Refused(id, $"sweep {id} cannot be read by this descent-client: {store} was written in store format version 9; "
            + $"this program reads version {GrainStateDatabase.FormatVersion}");
        Assert.Equal(bytes, File.ReadAllBytes(store));
        Assert.False(File.Exists(Path.Combine(runs, id, "results.json")));
    }
}
