using System.Globalization;
using System.Text;
using Descent.Sweeps;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Client.Output;

/// <summary>One trial of a sweep, as results show it: its plan, its status, and what is known of it: the summary of
/// its end, its lease while it runs, its full record once it has reported one.</summary>
public sealed record ResultRow(PlannedTrial Trial, TrialStatus Status, TrialSummary? Summary, TrialProgress? Running, TrialRecord? Record)
{
    public string StatusName => Status.Name();

    /// <summary>Why it ended (a failure, a divergence, a budget other than steps, a lost lease), or null.</summary>
    public string? Message => Record?.Result.Message ?? Summary?.Message;

    /// <summary>How many times it was placed.</summary>
    public int Attempts => Record?.Attempts ?? Running?.Attempt ?? Summary?.Attempt ?? 0;

    /// <summary>The hyper-parameters and other swept fields, for tables: <c>lr=0.001 max_steps=50</c>.</summary>
    public string Settings => ConfigText.Settings(Trial.Config);

    /// <summary>The optimizer and its settings: <c>keep-stepping lr=0.001 max_steps=50 scale_i=2 variant=seed</c>.</summary>
    public string Configuration => ConfigText.Configuration(Trial.Config);

    /// <summary>The row of <paramref name="trial"/> from what the client collected: a record or summary wins; else it
    /// runs (a lease in <paramref name="snapshot"/>), was cancelled with its sweep, or waits.</summary>
    public static ResultRow Of(PlannedTrial trial, SweepSnapshot snapshot, TrialSummary? summary, TrialRecord? record, TrialProgress? running)
    {
        if (record is not null) return new ResultRow(trial, record.Result.Status, summary, null, record);
        if (summary is not null) return new ResultRow(trial, summary.Status, summary, null, null);
        if (running is not null) return new ResultRow(trial, TrialStatus.Running, null, running, null);
        return snapshot.Status == SweepStatus.Cancelled
            ? new ResultRow(trial, TrialStatus.Cancelled, TrialSummary.CancelledBeforeRun(trial.Id, 0), null, null)
            : new ResultRow(trial, TrialStatus.Queued, null, null, null);
    }
}

/// <summary>A sweep's outcome: the snapshot at its end, every planned trial with its result, and the ranking.</summary>
public sealed record SweepResults(SweepSnapshot Sweep, IReadOnlyList<ResultRow> Trials, Leaderboard Leaderboard)
{
    public static SweepResults Of(SweepPlan plan, SweepSnapshot snapshot, IReadOnlyDictionary<string, TrialSummary> summaries,
        IReadOnlyDictionary<string, TrialRecord> records, Leaderboard leaderboard)
    {
        var running = snapshot.Running.ToDictionary(t => t.TrialId);
        var rows = plan.Trials.Select(t => ResultRow.Of(t, snapshot, summaries.GetValueOrDefault(t.Id), records.GetValueOrDefault(t.Id),
            running.GetValueOrDefault(t.Id))).ToList();
        return new SweepResults(snapshot, rows, leaderboard);
    }

    public ResultRow? Row(string trialId) => _rows.Value.GetValueOrDefault(trialId);

    readonly Lazy<Dictionary<string, ResultRow>> _rows = new(() => Trials.ToDictionary(r => r.Trial.Id));
}

/// <summary>Writes <c>results.json</c> and <c>trials.csv</c> (formats in README, "Results") from the results model
/// (<see cref="ResultsDocument"/>), to which <see cref="Document"/> maps a sweep's results. Each file is written to a
/// temporary name and renamed, so a reader never sees half a file.</summary>
public static class ResultsWriter
{
    public static string Write(string outDirectory, SweepResults results)
    {
        var document = Document(results);
        var directory = Path.Combine(outDirectory, document.Sweep.Id);
        Directory.CreateDirectory(directory);
        // results.json last: with it on disk, resume takes the results for written.
        AtomicFile.Write(Path.Combine(directory, "trials.csv"), (Stream stream) => WriteCsv(stream, document));
        AtomicFile.Write(Path.Combine(directory, "results.json"), (Stream stream) => ResultsJson.Write(stream, document));
        return directory;
    }

    /// <summary>results.json's content (<c>--json</c> prints it).</summary>
    public static void WriteJson(Stream stream, SweepResults results) => ResultsJson.Write(stream, Document(results));

    /// <summary>The sweep's results as the results model has them: the sweep, every planned trial (<see cref="Entry"/>),
    /// the leaderboard.</summary>
    public static ResultsDocument Document(SweepResults results)
    {
        var sweep = results.Sweep;
        var metric = results.Leaderboard.Metric;
        List<TrialEntry> trials = [.. results.Trials.Select(Entry)];
        return new ResultsDocument
        {
            Sweep = new SweepHeader
            {
                Id = sweep.Id,
                Name = sweep.Name,
                Status = sweep.Status,
                StartedAt = sweep.StartedAt,
                FinishedAt = sweep.FinishedAt,
                TrialCount = trials.Count,
                Metric = metric.Kind,
                MetricTarget = metric.Target,
            },
            Trials = trials,
            Leaderboard = LeaderboardEntry.Of(results.Leaderboard, trials),
        };
    }

    /// <summary>One trial, as results.json's <c>trials[]</c> and trials.jsonl's lines have it. Numbers are kept as they
    /// are (a diverged loss is NaN); <see cref="ResultsJson"/> writes those that are not finite as null.</summary>
    public static TrialEntry Entry(ResultRow row)
    {
        var spec = row.Trial.Spec;
        var record = row.Record;
        var result = record?.Result;
        return new TrialEntry
        {
            Id = row.Trial.Id,
            Config = row.Trial.Config,
            Task = [.. SweepParameters.TaskFields(spec)],
            Budget = spec.Budget,
            Status = row.Status,
            Message = row.Message,
            FinalLoss = result?.FinalLoss,
            BestLoss = result?.BestLoss,
            GradientEvaluations = result?.GradientEvaluations,
            ForwardPasses = result?.ForwardPasses,
            ForwardSeconds = result?.ForwardSeconds,
            BackwardSeconds = result?.BackwardSeconds,
            OptimizerSeconds = result?.OptimizerSeconds,
            BackwardShare = result?.BackwardShare,
            WallSeconds = result?.WallSeconds,
            Silo = record?.Silo,
            Device = record?.Device,
            Attempts = row.Attempts,
            StartedAt = record?.StartedAt,
            FinishedAt = record?.FinishedAt,
            History = result?.History ?? [],
        };
    }

    /// <summary>trials.csv's columns after <c>id</c> and the configuration's keys: the task's kind, the status, the totals.</summary>
    static readonly (string Name, Func<TrialEntry, object?> Value)[] Columns =
    [
        ("task", t => t.Task.FirstOrDefault(f => f.Key == "kind").Value),
        ("status", t => t.Status.Name()),
        ("final_loss", t => t.FinalLoss),
        ("best_loss", t => t.BestLoss),
        ("gradient_evaluations", t => t.GradientEvaluations),
        ("forward_passes", t => t.ForwardPasses),
        ("forward_seconds", t => t.ForwardSeconds),
        ("backward_seconds", t => t.BackwardSeconds),
        ("optimizer_seconds", t => t.OptimizerSeconds),
        ("backward_share", t => t.BackwardShare),
        ("wall_seconds", t => t.WallSeconds),
        ("silo", t => t.Silo),
        ("device", t => t.Device),
        ("attempts", t => t.Attempts),
    ];

    /// <summary>One row per trial: its id, its configuration (a column per key any trial has), then <see cref="Columns"/>.</summary>
    public static void WriteCsv(Stream stream, ResultsDocument document)
    {
        var configKeys = document.Trials.SelectMany(t => t.Config.Select(c => c.Key)).Distinct().ToList();
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\n" };
        writer.WriteLine(string.Join(",", new[] { "id" }.Concat(configKeys).Concat(Columns.Select(c => c.Name))));
        foreach (var trial in document.Trials)
        {
            var config = trial.Config.ToDictionary(c => c.Key, c => c.Value);
            var cells = new List<object?> { trial.Id };
            cells.AddRange(configKeys.Select(k => config.GetValueOrDefault(k)));
            cells.AddRange(Columns.Select(c => c.Value(trial)));
            writer.WriteLine(string.Join(",", cells.Select(Cell)));
        }
    }

    static string Cell(object? value)
    {
        var text = value switch
        {
            null => "",
            double d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
        return text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{text.Replace("\"", "\"\"")}\"" : text;
    }
}
