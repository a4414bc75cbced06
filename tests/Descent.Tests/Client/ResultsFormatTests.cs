using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Descent.Client.Output;
using Descent.Client.Reports;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Results;
using Descent.Sweeps;

namespace Descent.Tests.Client;

/// <summary>
/// The files on disk, byte for byte: results.json, trials.jsonl and trials.csv written for one sweep with every kind of
/// trial (completed, diverged with non-finite numbers, failed without a record, running, cancelled with and without a
/// record, queued) against golden copies in <c>Client/Golden/</c>. The golden copies were written by the hand-written
/// writer before the results model replaced it; a change to the format shows here as a diff, and then belongs in README
/// ("Results") as well, whose key lists are checked against the same files. Then the model itself: what it reads back,
/// the journal's torn last line, and files that are not results.
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

    /// <summary>The leaderboard says where the rows it leaves out are: results.json after a sweep; the leaderboard
    /// command, which writes no file, names the options that show them.</summary>
    [Fact]
    public void A_shortened_leaderboard_points_to_where_the_other_rows_are()
    {
        var results = Results(SweepStatus.Done, new RankMetric(), At(5));
        string Caption(Spectre.Console.Table table)
        {
            var text = new StringWriter();
            var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
            {
                Out = new Spectre.Console.AnsiConsoleOutput(text), Ansi = Spectre.Console.AnsiSupport.No,
            });
            console.Profile.Width = 200;
            console.Write(table);
            return text.ToString();
        }
        Assert.Contains("more rows in results.json", Caption(Descent.Client.Output.Views.Leaderboard(results, 1, 200)));
        var command = Caption(Descent.Client.Output.Views.Leaderboard(results, 1, 200, "not shown: --top 4 shows every row, --json every field"));
        Assert.DoesNotContain("results.json", command);
        Assert.Contains("more rows not shown: --top 4 shows every row", command);
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

    /// <summary>README's "Results": each object's keys in order (<c>sweep</c>, <c>trials</c>, <c>budget</c>,
    /// <c>history</c>, <c>leaderboard</c>, and the journal's <c>journal</c> line); <c>key?</c> may be absent,
    /// <c>&lt;metric&gt;</c> is the metric's name.</summary>
    static Dictionary<string, List<string>> Documented()
    {
        var readme = File.ReadAllText(Path.Combine(GridFiles.RepoRoot, "README.md")).ReplaceLineEndings("\n");
        var section = readme[readme.IndexOf("### Results", StringComparison.Ordinal)..readme.IndexOf("### Figures and report", StringComparison.Ordinal)];
        var start = section.IndexOf("```text\n", StringComparison.Ordinal) + "```text\n".Length;
        var block = section[start..section.IndexOf("```", start, StringComparison.Ordinal)];
        var objects = new Dictionary<string, List<string>>();
        // An entry starts at the beginning of a line ("trials[]:    id, ..."); indented lines continue it.
        foreach (var entry in Regex.Split(block.Trim(), @"\n(?=\S)"))
        {
            var colon = entry.IndexOf(':');
            Keys(entry[..colon].Trim().TrimEnd('[', ']'), entry[(colon + 1)..], objects);
        }
        Keys("journal", Regex.Match(section, @"`\{""sweep"": \{([^}]*)\}\}`").Groups[1].Value, objects);
        return objects;
    }

    /// <summary>The keys of a comma-separated list such as <c>id, budget {steps, seconds}, status (done | cancelled)</c>:
    /// explanations in parentheses are dropped, nested objects listed under their own key.</summary>
    static void Keys(string name, string list, Dictionary<string, List<string>> objects)
    {
        list = Regex.Replace(list, @"\s+", " ");
        while (Regex.IsMatch(list, @"\([^()]*\)")) list = Regex.Replace(list, @"\s*\([^()]*\)", "");
        var keys = new List<string>();
        var depth = 0;
        var item = new StringBuilder();
        foreach (var c in list + ",")
        {
            if (c == ',' && depth == 0)
            {
                Add(item.ToString().Trim());
                item.Clear();
                continue;
            }
            depth += c is '{' or '[' ? 1 : c is '}' or ']' ? -1 : 0;
            item.Append(c);
        }
        objects[name] = keys;

        void Add(string text)
        {
            if (Regex.Match(text, @"^(\S+)\[, (\S+)\]$") is { Success: true } optional) // metric[, metric_target]
            {
                keys.Add(optional.Groups[1].Value);
                keys.Add(optional.Groups[2].Value + "?");
            }
            else if (Regex.Match(text, @"^(\w+)(\[\])? \{(.*)\}$") is { Success: true } nested)
            {
                keys.Add(nested.Groups[1].Value);
                Keys(nested.Groups[1].Value, nested.Groups[3].Value, objects);
            }
            else keys.Add(text);
        }
    }

    static List<string> Names(JsonElement element) => [.. element.EnumerateObject().Select(p => p.Name)];

    /// <summary>The documented keys as <paramref name="metric"/>'s files have them: optional keys where
    /// <paramref name="present"/> has them, <c>&lt;metric&gt;</c> by its name (for final_loss, the final_loss key is the value).</summary>
    static List<string> Expected(List<string> documented, JsonElement present, string metric) =>
    [
        .. documented
            .Select(key => key == "<metric>" ? metric == "final_loss" ? null : metric : key)
            .Where(key => key is not null && !(key.EndsWith('?') && !present.TryGetProperty(key.TrimEnd('?'), out _)))
            .Select(key => key!.TrimEnd('?')),
    ];

    [Theory]
    [InlineData("results.json", true)]
    [InlineData("results-final-loss.json", false)]
    public void Results_json_has_the_keys_README_documents_in_its_order(string name, bool hasTarget)
    {
        var documented = Documented();
        using var json = JsonDocument.Parse(File.ReadAllText(Golden(name)));
        var root = json.RootElement;
        Assert.Equal(["sweep", "trials", "leaderboard"], Names(root));
        var sweep = root.GetProperty("sweep");
        var metric = sweep.GetProperty("metric").GetString()!;
        Assert.Equal(hasTarget, sweep.TryGetProperty("metric_target", out _));
        Assert.Equal(["id", "name", "status", "started_at", "finished_at", "trial_count", "metric", "metric_target?"], documented["sweep"]);
        Assert.Equal(Expected(documented["sweep"], sweep, metric), Names(sweep));
        foreach (var trial in root.GetProperty("trials").EnumerateArray())
        {
            Assert.Equal(documented["trials"], Names(trial));
            Assert.Equal(documented["budget"], Names(trial.GetProperty("budget")));
            foreach (var step in trial.GetProperty("history").EnumerateArray())
                Assert.Equal(documented["history"], Names(step));
        }
        Assert.Equal(21, documented["trials"].Count);
        Assert.Equal(5, documented["history"].Count);
        var rows = root.GetProperty("leaderboard").EnumerateArray().ToList();
        Assert.NotEmpty(rows);
        foreach (var row in rows)
            Assert.Equal(Expected(documented["leaderboard"], row, metric), Names(row));
    }

    [Fact]
    public void The_journals_sweep_line_has_the_keys_README_documents_in_its_order()
    {
        var header = JsonDocument.Parse(File.ReadLines(Golden("trials.jsonl")).First()).RootElement;
        Assert.Equal(["sweep"], Names(header));
        var sweep = header.GetProperty("sweep");
        Assert.Equal(["id", "name", "metric", "metric_target", "trial_count", "started_at"], Names(sweep));
        Assert.Equal(Expected(Documented()["journal"], sweep, "time_to_target"), Names(sweep));
    }

    [Theory]
    [InlineData("results.json")]
    [InlineData("results-final-loss.json")]
    public void A_results_json_read_into_the_model_and_written_again_is_the_same_text(string name)
    {
        var text = File.ReadAllText(Golden(name));
        using var again = new MemoryStream();
        ResultsJson.Write(again, ResultsJson.Read(Encoding.UTF8.GetBytes(text)));
        Assert.Equal(text, Encoding.UTF8.GetString(again.ToArray()));
    }

    [Fact]
    public void Journal_lines_read_into_the_model_and_written_again_are_the_same_text()
    {
        var lines = File.ReadAllLines(Golden("trials.jsonl"));
        var header = lines[0].Replace("(now)", "2025-03-04T05:06:07.089Z", StringComparison.Ordinal);
        Assert.Equal(header + "\n", Encoding.UTF8.GetString(ResultsJson.Line(ResultsJson.ReadHeader(header))));
        foreach (var line in lines.Skip(1))
            Assert.Equal(line + "\n", Encoding.UTF8.GetString(ResultsJson.Line(ResultsJson.ReadTrial(line))));
    }

    [Fact]
    public void The_model_reads_back_the_values_and_their_types()
    {
        var results = Results(SweepStatus.Cancelled, Sweep().Plan.Metric, At(5));
        var written = ResultsWriter.Document(results);
        using var stream = new MemoryStream();
        ResultsJson.Write(stream, written);
        var read = ResultsJson.Read(stream.ToArray());

        Assert.Equal(new SweepHeader
        {
            Id = "golden-20250304-050607-abcd", Name = "golden", Status = SweepStatus.Cancelled, StartedAt = Start,
            FinishedAt = Start.AddSeconds(5), TrialCount = 6, Metric = MetricKind.TimeToTarget, MetricTarget = 0.25,
        }, read.Sweep);
        Assert.Equal([TrialStatus.Completed, TrialStatus.Diverged, TrialStatus.Failed, TrialStatus.Running, TrialStatus.Cancelled, TrialStatus.Cancelled],
            read.Trials.Select(t => t.Status));

        // The configuration keeps its order and its types: strings, whole numbers (as long), other numbers, nulls.
        var steps = read.Trials[0];
        Assert.Equal(["optimizer", "variant", "lr", "max_steps", "scale_i", "n_row"], steps.Config.Select(c => c.Key));
        Assert.Equal<object?>(["keep-stepping", "seed", 0.0001913, 5L, 2L, 200L], steps.Config.Select(c => c.Value));
        Assert.Equal<object?>(["sgd", null, 0.0001913, null, null, 200L], read.Trials[2].Config.Select(c => c.Value));
        Assert.Equal<object?>(["synthetic", 200L, 3L, 4L, 1L, 7L], steps.Task.Select(c => c.Value));
        Assert.Equal("keep-stepping lr=0.0001913 max_steps=5 scale_i=2 n_row=200 variant=seed", steps.Configuration);
        Assert.Equal(new Budget(3, 60.5), steps.Budget);
        Assert.Equal(Start.AddSeconds(1), steps.StartedAt); // to the millisecond
        Assert.Equal(new StepRecord(2, 0.3, 0.25, 6, 2), steps.History[1]);

        // Numbers that are not finite are null on disk: null where the model allows it, NaN in a step's loss.
        var diverged = read.Trials[1];
        Assert.Null(diverged.FinalLoss);
        Assert.Equal(1.5, diverged.BestLoss);
        Assert.Equal(1e10, diverged.History[1].Loss);
        Assert.True(double.IsNaN(diverged.History[2].Loss));
        Assert.Equal("silo \"b\", rack 2", diverged.Silo);
        Assert.Equal("the loss became NaN after step 3; keep-stepping: \"note\" <é>", diverged.Message);

        // Without a record: no totals, no place, no times, no history.
        var failed = read.Trials[2];
        Assert.True(failed is { FinalLoss: null, GradientEvaluations: null, Silo: null, StartedAt: null, Attempts: 1 });
        Assert.Empty(failed.History);

        // The leaderboard's metric: a value, or infinity (null on disk) for a trial that never reached the target.
        Assert.Equal(["8e526e136f114784", "0b5db3f1bef54a28", "d813a126c4f2cb3d", "0a0accca7290a1fb"], read.Leaderboard.Select(r => r.Trial));
        Assert.Equal([0.25, null, null, null], read.Leaderboard.Select(r => r.Value(MetricKind.TimeToTarget)));
        Assert.Equal(double.PositiveInfinity, read.Leaderboard[1].TimeToTarget);
        Assert.All(read.Leaderboard, r => Assert.Null(r.GradientsToTarget));
        Assert.Equal(["keep-stepping", "keep-stepping", "sgd", "newton"], read.Leaderboard.Select(r => r.Optimizer));
        Assert.Equal("keep-stepping lr=0.0001913 max_steps=5 scale_i=2 n_row=200 variant=seed", read.Leaderboard[0].Configuration);

        // Everything else: the same lines as the trials written.
        Assert.Equal(written.Trials.Select(t => Encoding.UTF8.GetString(ResultsJson.Line(t))), read.Trials.Select(t => Encoding.UTF8.GetString(ResultsJson.Line(t))));
    }

    /// <summary>A journal as the client writes it: the sweep line, then the ended trials of the golden sweep.</summary>
    static string Journal()
    {
        var results = Results(SweepStatus.Cancelled, Sweep().Plan.Metric, At(5));
        using var journal = TrialsJournal.Create(GridFiles.Folder(), results.Sweep.Id, Sweep().Plan);
        journal.Append(results.Trials.Where(r => r.Record is not null || r.Status == TrialStatus.Failed));
        return journal.Path;
    }

    [Fact]
    public void A_journal_is_read_with_its_ended_trials_ranked_as_the_leaderboard_ranks_them()
    {
        var path = Journal();
        var (sweep, trials) = TrialsJournal.Read(path);
        Assert.Equal(("golden-20250304-050607-abcd", "golden", MetricKind.TimeToTarget, 0.25, 6), (sweep.Id, sweep.Name, sweep.Metric, sweep.MetricTarget, sweep.TrialCount));
        Assert.Equal(4, trials.Count);

        var file = ResultsFile.Load(path);
        Assert.True(file.Unfinished);
        Assert.Equal("unfinished", file.Status);
        Assert.Equal("time_to_target", file.Metric);
        // The written leaderboard of the same trials (ranked from their records) is the journal's.
        var written = ResultsWriter.Document(Results(SweepStatus.Cancelled, Sweep().Plan.Metric, At(5)));
        Assert.Equal(written.Leaderboard.Select(r => (r.Rank, r.Trial, r.Optimizer, r.Value(MetricKind.TimeToTarget), r.Status)),
            file.Leaderboard.Select(r => (r.Rank, r.Trial, r.Optimizer, r.Value(MetricKind.TimeToTarget), r.Status)));
    }

    [Fact]
    public void A_journal_cut_short_by_a_kill_loses_only_its_last_line()
    {
        var path = Journal();
        var whole = File.ReadAllText(path);
        var lines = whole.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Killed while writing the fifth trial's line: a part of it, without its newline.
        File.AppendAllText(path, lines[1][..40]);
        Assert.Equal(4, TrialsJournal.Read(path).Trials.Count);
        Assert.Equal(4, ResultsFile.Load(path).Trials.Count);

        // Any other line that is not a trial is an error, naming the file and the line.
        File.WriteAllText(path, string.Join("\n", [lines[0], lines[1], lines[2][..40], lines[3]]) + "\n");
        var error = Assert.Throws<ReportInputException>(() => ResultsFile.Load(path)).Message;
        Assert.Contains($"results = \"{path}\": not a Descent trials.jsonl (line 3: ", error);

        // Killed while writing the sweep line: nothing to read.
        File.WriteAllText(path, lines[0][..20]);
        Assert.Contains("not a Descent trials.jsonl (no sweep line)", Assert.Throws<ReportInputException>(() => ResultsFile.Load(path)).Message);
    }

    [Fact]
    public void A_journal_continued_after_a_kill_drops_the_cut_line_and_takes_no_trial_twice()
    {
        var results = Results(SweepStatus.Done, Sweep().Plan.Metric, At(5));
        var ended = results.Trials.Where(r => r.Status.IsEnded()).ToList();
        var folder = GridFiles.Folder();
        string path;
        // The client heard of two trials, and was killed while writing the third one's line.
        using (var killed = TrialsJournal.Create(folder, results.Sweep.Id, Sweep().Plan))
        {
            path = killed.Path;
            killed.Append(ended.Take(2));
        }
        var whole = File.ReadAllText(path);
        var lines = whole.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        File.AppendAllText(path, lines[1][..40]);

        using (var journal = TrialsJournal.Continue(folder, results.Sweep.Id, Sweep().Plan))
        {
            // The cut line is gone, so that the next line starts a line of its own.
            Assert.Equal(whole, File.ReadAllText(path));
            // Every ended trial again, as resume collects them all: only those the journal lacks are appended.
            journal.Append(ended);
        }
        Assert.StartsWith(whole, File.ReadAllText(path));
        var (sweep, trials) = TrialsJournal.Read(path);
        Assert.Equal(results.Sweep.Id, sweep.Id);
        Assert.True(ended.Count > 2, "the sweep has trials the journal lacked");
        Assert.Equal(ended.Select(r => r.Trial.Id), trials.Select(t => t.Id));

        // A journal that lost even its sweep line starts again.
        File.WriteAllText(path, lines[0][..20]);
        using (TrialsJournal.Continue(folder, results.Sweep.Id, Sweep().Plan)) { }
        Assert.Empty(TrialsJournal.Read(path).Trials);
        Assert.Equal(results.Sweep.Id, TrialsJournal.Read(path).Sweep.Id);
    }
}
