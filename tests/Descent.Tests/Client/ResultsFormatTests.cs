using System.Text;
using System.Text.RegularExpressions;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Sweeps;

namespace Descent.Tests.Client;

/// <summary>
/// The files on disk, byte for byte: results.json, trials.jsonl and trials.csv written for one sweep with every kind of
/// trial (completed, diverged with non-finite numbers, failed without a record, running, cancelled with and without a
/// record, queued) against golden copies in <c>Client/Golden/</c>. The golden copies were written by the hand-written
/// writer before the results model replaced it; a change to the format shows here as a diff, and then belongs in README
/// ("Results") as well.
/// </summary>
public class ResultsFormatTests
{
    const string Grid = """
        {"name": "golden", "task": {"kind": "synthetic", "dim_in": 3, "dim_hidden": 4, "n_layers": 1, "seed": 7},
         "budget": {"steps": 3, "seconds": 60.5},
         "metric": {"name": "time_to_target", "target": 0.25, "goal": "minimize"},
         "parameters": {"optimizer": ["keep-stepping", "sgd", "newton"], "lr": 0.0001913, "max_steps": 5, "scale_i": 2, "n_row": [200, 300]}}
        """;

    static readonly DateTimeOffset Start = new(2025, 3, 4, 5, 6, 7, 89, TimeSpan.Zero);

    static DateTimeOffset At(double seconds) => Start.AddSeconds(seconds).AddTicks(1234);

    static IReadOnlyList<StepRecord> History(params double[] losses) =>
        [.. losses.Select((loss, k) => new StepRecord(k + 1, loss, 0.125 * (k + 1), 3L * (k + 1), k + 1))];

    /// <summary>The sweep's plan and what the client collected of it: one trial of each kind, in plan order.</summary>
    static (SweepPlan Plan, Dictionary<string, TrialSummary> Summaries, Dictionary<string, TrialRecord> Records, List<TrialProgress> Running) Sweep()
    {
        var plan = GridFiles.Plan(Grid);
        Assert.Equal(6, plan.Trials.Count);
        var trial = plan.Trials.ToDictionary(t => $"{t.Config[0].Value} {GridFiles.Config(t, "n_row")}");
        var metric = plan.Metric;
        var records = new List<TrialRecord>
        {
            new(trial["keep-stepping 200"].Id, trial["keep-stepping 200"].Spec,
                new TrialResult(TrialStatus.Completed, null, 0.0123456789, 0.0123456789, 30, 3, 0.5, 1.25, 0.001, 2.0,
                    History(1.5, 0.3, 0.02)), "S127.0.0.1:11111:1", "cpu:0", 1, At(1), At(3)),
            new(trial["keep-stepping 300"].Id, trial["keep-stepping 300"].Spec,
                new TrialResult(TrialStatus.Diverged, "the loss became NaN after step 3; keep-stepping: \"note\" <é>", double.NaN, 1.5, 9, 3,
                    0.25, 0.0, 0.0, 1.0, History(1.5, 1e10, double.PositiveInfinity)), "silo \"b\", rack 2", "cpu:1", 2, At(1.5), At(2.5)),
            new(trial["newton 200"].Id, trial["newton 200"].Spec,
                new TrialResult(TrialStatus.Cancelled, null, 0.75, 0.75, 1, 1, 0.01, 0.02, 0.03, 0.04, History(2.0)),
                "S127.0.0.1:11111:1", "cpu:0", 1, At(4), At(4.5)),
        };
        var summaries = records.ToDictionary(r => r.TrialId, r => TrialSummary.Of(r, metric));
        var failed = trial["sgd 200"].Id;
        summaries[failed] = new TrialSummary(failed, TrialStatus.Failed, 1, Message: "task synthetic n_row=200 needs about 744 GB, of which \"inputs\" 80 GB");
        var running = new List<TrialProgress> { new(trial["sgd 300"].Id, 3, "S127.0.0.1:11111:1", "cpu:1", 2, 0.5) };
        return (plan, summaries, records.ToDictionary(r => r.TrialId), running);
    }

    static SweepResults Results(SweepStatus status, RankMetric metric, DateTimeOffset? finished)
    {
        var (plan, summaries, records, running) = Sweep();
        var snapshot = new SweepSnapshot("golden-20250304-050607-abcd", plan.Name, status, At(0), finished, plan.Trials.Count,
            [0, 1, 1, 1, 1, 1], running, summaries.Count, 2);
        return SweepResults.Of(plan, snapshot, summaries, records, Leaderboard.Rank(metric, summaries.Values));
    }

    static string Golden(string name) => Path.Combine(GridFiles.RepoRoot, "tests", "Descent.Tests", "Client", "Golden", name);

    /// <summary>Compares <paramref name="actual"/> with the golden file; on a difference, leaves the actual text beside the
    /// test's output for a diff.</summary>
    static void AssertGolden(string name, string actual)
    {
        var path = Golden(name);
        var expected = File.Exists(path) ? File.ReadAllText(path) : null;
        if (expected == actual) return;
        var written = Path.Combine(AppContext.BaseDirectory, "golden-actual", name);
        Directory.CreateDirectory(Path.GetDirectoryName(written)!);
        File.WriteAllText(written, actual, new UTF8Encoding(false));
        Assert.Fail($"{name} differs from {path}; the text written now is in {written}");
    }

    [Fact]
    public void Results_json_of_a_cancelled_sweep_ranked_by_time_to_target_is_unchanged()
    {
        var results = Results(SweepStatus.Cancelled, Sweep().Plan.Metric, At(5));
        var directory = ResultsWriter.Write(GridFiles.Folder(), results);
        AssertGolden("results.json", File.ReadAllText(Path.Combine(directory, "results.json")));
        AssertGolden("trials.csv", File.ReadAllText(Path.Combine(directory, "trials.csv")));

        using var stdout = new MemoryStream();
        ResultsWriter.WriteJson(stdout, results);
        Assert.Equal(File.ReadAllText(Path.Combine(directory, "results.json")), Encoding.UTF8.GetString(stdout.ToArray()));
    }

    [Fact]
    public void Results_json_of_a_running_sweep_ranked_by_final_loss_is_unchanged()
    {
        var results = Results(SweepStatus.Running, new RankMetric(), null);
        var directory = ResultsWriter.Write(GridFiles.Folder(), results);
        AssertGolden("results-final-loss.json", File.ReadAllText(Path.Combine(directory, "results.json")));
    }

    [Fact]
    public void Trials_jsonl_is_unchanged()
    {
        var results = Results(SweepStatus.Cancelled, Sweep().Plan.Metric, At(5));
        var (plan, _, _, _) = Sweep();
        var folder = GridFiles.Folder();
        string path;
        using (var journal = TrialsJournal.Create(folder, results.Sweep.Id, plan))
        {
            path = journal.Path;
            journal.Append(results.Trials.Where(r => r.Status.IsEnded()));
        }
        // The sweep line's started_at is the moment the journal was created.
        var text = Regex.Replace(File.ReadAllText(path), "\"started_at\":\"[^\"]+\",?\\}\\}", "\"started_at\":\"(now)\"}}");
        AssertGolden("trials.jsonl", text);
    }
}
