using System.Text.Json;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Client.Reports;

/// <summary>results.json (or a stopped client's trials.jsonl), read back into the results model: what <c>plot</c> and
/// <c>report</c> work from, so that they show exactly the numbers on disk.</summary>
/// <param name="Unfinished">Read from a journal: the trials that had ended when the client stopped.</param>
public sealed record ResultsFile(string Path, ResultsDocument Document, bool Unfinished = false)
{
    public SweepHeader Sweep => Document.Sweep;

    public IReadOnlyList<TrialEntry> Trials => Document.Trials;

    public IReadOnlyList<LeaderboardEntry> Leaderboard => Document.Leaderboard;

    /// <summary>The sweep's status as reports show it: <c>done</c>, <c>cancelled</c>, or <c>unfinished</c> for a journal.</summary>
    public string Status => Unfinished ? "unfinished" : Sweep.Status.Name();

    /// <summary>The metric's name: <c>final_loss</c>, <c>time_to_target</c>, <c>gradients_to_target</c>.</summary>
    public string Metric => Sweep.RankMetric.Name;

    /// <summary>Reads <paramref name="path"/>: results.json, or trials.jsonl (by its extension). Throws
    /// <see cref="ReportInputException"/> naming the path when it is missing or not a Descent results file.</summary>
    public static ResultsFile Load(string path)
    {
        if (!File.Exists(path)) throw new ReportInputException($"results = \"{path}\": no such file");
        var journal = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase);
        try
        {
            return journal ? LoadJournal(path) : new ResultsFile(path, ResultsJson.Read(File.ReadAllBytes(path)));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NotSupportedException)
        {
            throw new ReportInputException($"results = \"{path}\": not a Descent {(journal ? "trials.jsonl" : "results.json")} ({e.Message})");
        }
    }

    /// <summary>A sweep's <c>trials.jsonl</c> (<see cref="TrialsJournal"/>): the trials that had ended when its client
    /// stopped, ranked by the sweep's metric as the leaderboard ranks them.</summary>
    static ResultsFile LoadJournal(string path)
    {
        var (sweep, lines) = TrialsJournal.Read(path);
        // A trial journaled twice (it cannot be, but a file may be edited) counts once: the last line wins.
        List<TrialEntry> trials = [.. lines.GroupBy(t => t.Id).Select(g => g.Last())];
        var metric = new RankMetric(sweep.Metric, sweep.MetricTarget);
        var table = Contracts.Sweeps.Leaderboard.Rank(metric, trials.Select(t =>
            new TrialSummary(t.Id, t.Status, t.Attempts, t.FinalLoss ?? double.NaN, metric.ValueOf(t.FinalLoss, t.History))));
        var document = new ResultsDocument
        {
            Sweep = new SweepHeader
            {
                Id = sweep.Id,
                Name = sweep.Name,
                Status = SweepStatus.Running,
                StartedAt = sweep.StartedAt,
                TrialCount = sweep.TrialCount,
                Metric = sweep.Metric,
                MetricTarget = sweep.MetricTarget,
            },
            Trials = trials,
            Leaderboard = LeaderboardEntry.Of(table, trials),
        };
        return new ResultsFile(path, document, Unfinished: true);
    }
}

/// <summary>A results file or sweep id that plot/report cannot use (exit code 2).</summary>
public sealed class ReportInputException(string message) : Exception(message);
