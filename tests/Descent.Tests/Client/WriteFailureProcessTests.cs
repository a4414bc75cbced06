using System.Diagnostics;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Silo;
using Descent.Testing;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Client;

/// <summary>The real descent-client when its results folder fails it (issue 19): a disk that fills mid-sweep (a small
/// tmpfs; root, as in CI), a read-only one, the sweep's store removed. The sweep stops at once with one line naming the
/// file and the cause, exit code 1, no stack trace; what was written stays valid, and resume finishes the sweep once
/// there is room.</summary>
[Collection(nameof(ClientProcessTests))]
public class WriteFailureProcessTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>60 trials of 5 steps on one slot: many writes to the store and the journal within seconds.</summary>
    const string Quick = """
        {"name": "full", "task": {"kind": "synthetic", "n_row": 100, "dim_in": 2, "dim_hidden": 2, "n_layers": 1},
         "budget": {"steps": 5}, "repeats": 60, "parameters": {"optimizer": ["sgd"]}}
        """;

    /// <summary>The one line the client ended with, after checking it is the only error line and that no stack trace
    /// was printed.</summary>
    static string Failure(string stderr)
    {
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("Exception", stderr);
        return Assert.Single(stderr.Split('\n'), line => line.StartsWith("descent-client: cannot write ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_disk_that_fills_stops_the_sweep_at_once_with_one_line_and_resume_finishes_it_once_there_is_room()
    {
        using var disk = SmallDisk.Mount("600k");
        var folder = Folder();
        var grid = Write(Quick, folder);
        var clock = Stopwatch.StartNew();
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "sweep", grid, "--out", disk.Path, "--slots", "1");
        Assert.True(exit == 1, $"exit {exit}\n{stdout}\n{stderr}");
        // Well under the 60 s the client used to retry a failed journal write for, or the 60 s cancel grace.
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(30));
        var sweepFolder = Assert.Single(Directory.GetDirectories(disk.Path));
        var id = Path.GetFileName(sweepFolder);
        var line = Failure(stderr);
        Assert.Matches($"^descent-client: cannot write {System.Text.RegularExpressions.Regex.Escape(sweepFolder)}/(trials.jsonl|state/grains.db): no space left on device", line);
        Assert.EndsWith($"once the cause is fixed, `descent-client resume {id} --out {disk.Path}` continues it", line);
        Assert.False(Directory.Exists(Path.Combine(Path.GetTempPath(), "descent-runs", id)), "results went to a fallback folder");

        // What is on disk is valid: a journal of whole lines (a line cut short by the full disk was cut off).
        var journal = Path.Combine(sweepFolder, TrialsJournal.FileName);
        Assert.EndsWith("\n", File.ReadAllText(journal));
        var (_, ended) = TrialsJournal.Read(journal);
        Assert.False(File.Exists(Path.Combine(sweepFolder, "results.json")));

        disk.Resize("16m");
        (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "resume", id, "--out", disk.Path, "--slots", "1");
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.DoesNotContain("   at ", stderr);
        var results = ClientProcessTests.Results(disk.Path);
        Assert.Equal(SweepStatus.Done, results.Sweep.Status);
        Assert.Equal(60, results.Trials.Count);
        Assert.All(results.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        // The trials journaled before the disk filled were not run again.
        var trials = results.Trials.ToDictionary(t => t.Id);
        Assert.All(ended, t => Assert.Equal((1, t.StartedAt, t.FinalLoss), (trials[t.Id].Attempts, trials[t.Id].StartedAt, trials[t.Id].FinalLoss)));
        var (_, journaled) = TrialsJournal.Read(journal);
        Assert.Equal(60, journaled.Select(t => t.Id).Distinct().Count());
        Assert.Equal(60, journaled.Count);
    }

    [Fact]
    public async Task A_read_only_results_folder_is_one_line_naming_the_folder_and_nothing_runs()
    {
        using var disk = SmallDisk.Mount("64k", readOnly: true);
        var folder = Folder();
        var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, "sweep", Write(Quick, folder), "--out", disk.Path, "--slots", "1");
        Assert.True(exit == 1, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.Matches($"^descent-client: cannot write {System.Text.RegularExpressions.Regex.Escape(disk.Path)}/full-[0-9a-f-]+/state: read-only file system$", Failure(stderr));
        Assert.Empty(Directory.GetFileSystemEntries(disk.Path));
    }

    [Fact]
    public async Task A_store_removed_mid_sweep_stops_the_sweep_at_once_naming_its_file()
    {
        var folder = Folder();
        var runs = Path.Combine(folder, "runs");
        using var client = RunningProcess.Client(folder, "sweep", Write(Quick.Replace("\"steps\": 5", "\"steps\": 300"), folder), "--out", "runs", "--slots", "1");
        var deadline = DateTime.UtcNow + Timeout;
        string? state = null;
        while (state is null || !File.Exists(Path.Combine(state, GrainStateDatabase.FileName)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the store was not made in time\n{client.Err}");
            await Task.Delay(50);
            state = Directory.Exists(runs) ? Directory.GetDirectories(runs).Select(d => Path.Combine(d, "state")).FirstOrDefault() : null;
        }
        await client.WaitFor(err => err.Contains("1 running", StringComparison.Ordinal), Timeout);
        Directory.Delete(state, recursive: true);
        var clock = Stopwatch.StartNew();
        var exit = await client.Exit(Timeout);
        Assert.True(exit == 1, $"exit {exit}\n{client.Err}");
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(15));
        var line = Failure(client.Err);
        Assert.StartsWith($"descent-client: cannot write {Path.Combine(Path.GetFullPath(state), GrainStateDatabase.FileName)}: the file was removed while the store was open", line);
        Assert.EndsWith("is gone, so it cannot be resumed", line);
    }
}
