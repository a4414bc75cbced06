using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Silo;
using Descent.Testing;

namespace Descent.Tests.Client;

/// <summary>The client's result files when the disk fills (a real small tmpfs; root, as in CI): trials.jsonl and
/// results.json fail with one line naming the file and the cause, and what was on disk before stays readable and
/// whole: the journal keeps its whole lines and loses a line cut short, results.json is the last one written (no
/// temporary file left).</summary>
public class ResultsWriteFailureTests
{
    const string Grid = """
        {"name": "full", "task": {"kind": "synthetic", "n_row": 100, "dim_in": 2, "dim_hidden": 2, "n_layers": 1},
         "budget": {"steps": 400}, "repeats": 60, "parameters": {"optimizer": ["sgd"]}}
        """;

    /// <summary>The sweep's results with its first <paramref name="ended"/> trials completed, each with a history of 400
    /// steps (about 40 KB a journal line).</summary>
    static SweepResults Results(Descent.Sweeps.SweepPlan plan, int ended)
    {
        var at = DateTimeOffset.UtcNow;
        var records = plan.Trials.Take(ended).Select(t => new TrialRecord(t.Id, t.Spec,
            new TrialResult(TrialStatus.Completed, null, 0.5, 0.5, 400, 400, 1, 2, 0.1, 0.66,
                [.. Enumerable.Range(1, 400).Select(k => new StepRecord(k, 1.0 / k, 0.01 * k, k, k))]), "silo", "cpu:0", 1, at, at))
            .ToDictionary(r => r.TrialId);
        var summaries = records.Values.ToDictionary(r => r.TrialId, r => TrialSummary.Of(r, plan.Metric));
        var counts = new int[Enum.GetValues<TrialStatus>().Length];
        counts[(int)TrialStatus.Completed] = ended;
        counts[(int)TrialStatus.Queued] = plan.Trials.Count - ended;
        var snapshot = new SweepSnapshot("full-1", plan.Name, SweepStatus.Running, at, null, plan.Trials.Count, counts, [], ended, 1);
        return SweepResults.Of(plan, snapshot, summaries, records, Leaderboard.Rank(plan.Metric, summaries.Values));
    }

    [Fact]
    public void A_full_disk_fails_the_journal_and_the_results_naming_the_file_and_leaves_what_was_written_whole()
    {
        using var disk = SmallDisk.Mount("512k");
        var plan = GridFiles.Plan(Grid);
        var early = Results(plan, 2);
        var directory = ResultsWriter.Write(disk.Path, early);
        var resultsJson = Path.Combine(directory, "results.json");
        var before = File.ReadAllBytes(resultsJson);

        using var journal = TrialsJournal.Create(disk.Path, "full-1", plan);
        var all = Results(plan, plan.Trials.Count).Trials;
        WriteFailedException? failure = null;
        var appended = 0;
        // Batches of three: the disk fills inside one, and the lines of it written whole are kept.
        for (; appended < all.Count && failure is null; appended += 3)
        {
            try { journal.Append(all.Skip(appended).Take(3)); }
            catch (WriteFailedException e) { failure = e; }
        }
        Assert.NotNull(failure);
        Assert.Equal($"cannot write {journal.Path}: no space left on device", failure.Message);
        var text = File.ReadAllText(journal.Path);
        Assert.EndsWith("\n", text);
        var (sweep, trials) = TrialsJournal.Read(journal.Path);
        Assert.Equal("full-1", sweep.Id);
        Assert.InRange(trials.Count, 1, appended - 1);
        Assert.Equal(all.Take(trials.Count).Select(r => r.Trial.Id), trials.Select(t => t.Id));
        Assert.All(trials, t => Assert.Equal(400, t.History.Count));

        // The results of the whole sweep no longer fit: refused naming the file, the earlier results.json as it was.
        var written = Assert.Throws<WriteFailedException>(() => ResultsWriter.Write(disk.Path, Results(plan, plan.Trials.Count)));
        Assert.Matches($"^cannot write {System.Text.RegularExpressions.Regex.Escape(directory)}/(trials.csv|results.json): no space left on device$", written.Message);
        Assert.Equal(before, File.ReadAllBytes(resultsJson));
        Assert.DoesNotContain(Directory.GetFiles(directory), f => f.Contains(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void A_journal_whose_file_was_removed_fails_its_next_append_instead_of_writing_into_a_vanished_file()
    {
        var plan = GridFiles.Plan(Grid);
        var folder = GridFiles.Folder();
        using var journal = TrialsJournal.Create(folder, "full-1", plan);
        var rows = Results(plan, 2).Trials;
        journal.Append(rows.Take(1));
        Directory.Delete(Path.Combine(folder, "full-1"), recursive: true);
        var failure = Assert.Throws<WriteFailedException>(() => journal.Append(rows.Skip(1).Take(1)));
        Assert.Equal($"cannot write {journal.Path}: the file was removed while the sweep ran (its folder deleted?)", failure.Message);
    }
}
