using System.Globalization;
using System.Text;
using System.Text.Json;
using Descent.Sweeps;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

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
            ? new ResultRow(trial, TrialStatus.Cancelled, new TrialSummary(trial.Id, TrialStatus.Cancelled, 0, Message: "sweep cancelled before it ran"), null, null)
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

/// <summary>Writes <c>results.json</c> and <c>trials.csv</c> (formats in README, "Results"). Each file is written
/// to a temporary name and renamed, so a reader never sees half a file.</summary>
public static class ResultsWriter
{
    public static string Write(string outDirectory, SweepResults results)
    {
        var directory = Path.Combine(outDirectory, results.Sweep.Id);
        Directory.CreateDirectory(directory);
        AtomicFile.Write(Path.Combine(directory, "results.json"), (Stream stream) => WriteJson(stream, results));
        AtomicFile.Write(Path.Combine(directory, "trials.csv"), (Stream stream) => WriteCsv(stream, results));
        return directory;
    }

    public static void WriteJson(Stream stream, SweepResults results)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        var sweep = results.Sweep;
        json.WriteStartObject();
        json.WriteStartObject("sweep");
        json.WriteString("id", sweep.Id);
        json.WriteString("name", sweep.Name);
        json.WriteString("status", sweep.Status.Name());
        WriteTime(json, "started_at", sweep.StartedAt);
        WriteTime(json, "finished_at", sweep.FinishedAt);
        json.WriteNumber("trial_count", results.Trials.Count);
        json.WriteString("metric", results.Leaderboard.Metric.Name);
        if (results.Leaderboard.Metric.Target is { } target) json.WriteNumber("metric_target", target);
        json.WriteEndObject();

        json.WriteStartArray("trials");
        foreach (var row in results.Trials) WriteTrial(json, row);
        json.WriteEndArray();

        json.WriteStartArray("leaderboard");
        foreach (var entry in results.Leaderboard.Rows)
        {
            json.WriteStartObject();
            json.WriteNumber("rank", entry.Rank);
            json.WriteString("trial", entry.TrialId);
            // The optimizer as trials[].config spells it, and the configuration as every table writes it (ConfigText).
            var row = results.Row(entry.TrialId);
            json.WriteString("optimizer", row?.Trial.Config.FirstOrDefault(c => c.Key == "optimizer").Value as string);
            json.WriteString("configuration", row?.Configuration);
            // The metric's value under its own name; for final_loss that is the final_loss key itself.
            if (results.Leaderboard.Metric.Kind != MetricKind.FinalLoss) Number(json, results.Leaderboard.Metric.Name, entry.MetricValue);
            Number(json, "final_loss", entry.FinalLoss);
            json.WriteString("status", entry.Status.Name());
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>One trial as results.json's <c>trials[]</c> and trials.jsonl's lines have it.</summary>
    public static void WriteTrial(Utf8JsonWriter json, ResultRow row)
    {
        var spec = row.Trial.Spec;
        var record = row.Record;
        var result = record?.Result;
        json.WriteStartObject();
        json.WriteString("id", row.Trial.Id);
        json.WriteStartObject("config");
        foreach (var (key, value) in row.Trial.Config) Value(json, key, value);
        json.WriteEndObject();
        json.WriteStartObject("task");
        foreach (var (key, value) in SweepParameters.TaskFields(spec)) Value(json, key, value);
        json.WriteEndObject();
        json.WriteStartObject("budget");
        json.WriteNumber("steps", spec.Budget.Steps);
        Number(json, "seconds", spec.Budget.Seconds);
        Number(json, "target_loss", spec.Budget.TargetLoss);
        json.WriteEndObject();
        json.WriteString("status", row.StatusName);
        Value(json, "message", row.Message);
        Number(json, "final_loss", result?.FinalLoss);
        Number(json, "best_loss", result?.BestLoss);
        Number(json, "gradient_evaluations", result?.GradientEvaluations);
        Number(json, "forward_passes", result?.ForwardPasses);
        Number(json, "forward_seconds", result?.ForwardSeconds);
        Number(json, "backward_seconds", result?.BackwardSeconds);
        Number(json, "optimizer_seconds", result?.OptimizerSeconds);
        Number(json, "backward_share", result?.BackwardShare);
        Number(json, "wall_seconds", result?.WallSeconds);
        Value(json, "silo", record?.Silo);
        Value(json, "device", record?.Device);
        json.WriteNumber("attempts", row.Attempts);
        WriteTime(json, "started_at", record?.StartedAt);
        WriteTime(json, "finished_at", record?.FinishedAt);
        json.WriteStartArray("history");
        foreach (var step in result?.History ?? [])
        {
            json.WriteStartObject();
            json.WriteNumber("step", step.Step);
            Number(json, "loss", step.Loss);
            Number(json, "elapsed_seconds", step.ElapsedSeconds);
            json.WriteNumber("forward_passes", step.ForwardPasses);
            json.WriteNumber("gradient_evaluations", step.GradientEvaluations);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteTime(Utf8JsonWriter json, string name, DateTimeOffset? time)
    {
        if (time is { } t) json.WriteString(name, t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
        else json.WriteNull(name);
    }

    static void Number(Utf8JsonWriter json, string name, double? value)
    {
        // JSON has no NaN or infinity: a loss that diverged is null (the status says why).
        if (value is { } v && double.IsFinite(v)) json.WriteNumber(name, v);
        else json.WriteNull(name);
    }

    static void Value(Utf8JsonWriter json, string name, object? value)
    {
        switch (value)
        {
            case null: json.WriteNull(name); break;
            case string s: json.WriteString(name, s); break;
            case double d: Number(json, name, d); break;
            case int i: json.WriteNumber(name, i); break;
            case long l: json.WriteNumber(name, l); break;
            default: json.WriteString(name, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
        }
    }

    public static void WriteCsv(Stream stream, SweepResults results)
    {
        var configKeys = results.Trials.SelectMany(r => r.Trial.Config.Select(c => c.Key)).Distinct().ToList();
        string[] tail = ["task", "status", "final_loss", "best_loss", "gradient_evaluations", "forward_passes", "forward_seconds",
            "backward_seconds", "optimizer_seconds", "backward_share", "wall_seconds", "silo", "device", "attempts"];
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\n" };
        writer.WriteLine(string.Join(",", new[] { "id" }.Concat(configKeys).Concat(tail)));
        foreach (var row in results.Trials)
        {
            var config = row.Trial.Config.ToDictionary(c => c.Key, c => c.Value);
            var result = row.Record?.Result;
            var cells = new List<object?> { row.Trial.Id };
            cells.AddRange(configKeys.Select(k => config.GetValueOrDefault(k)));
            cells.AddRange([
                row.Trial.Spec.Task.Kind, row.StatusName, result?.FinalLoss, result?.BestLoss, result?.GradientEvaluations,
                result?.ForwardPasses, result?.ForwardSeconds, result?.BackwardSeconds, result?.OptimizerSeconds,
                result?.BackwardShare, result?.WallSeconds, row.Record?.Silo, row.Record?.Device,
                row.Attempts,
            ]);
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
