using System.Text.Json;
using Descent.Contracts.Trials;

namespace Descent.Client.Reports;

/// <summary>One step of a trial's history, as results.json has it.</summary>
public sealed record HistoryPoint(int Step, double? Loss, double ElapsedSeconds, long ForwardPasses, long GradientEvaluations);

/// <summary>One trial of results.json: what figures and reports need of it.</summary>
public sealed record TrialOutcome(
    string Id,
    string Optimizer,
    string Configuration,
    string Status,
    double? FinalLoss,
    double? BackwardShare,
    double? ForwardSeconds,
    double? BackwardSeconds,
    long? GradientEvaluations,
    double? WallSeconds,
    string Task,
    IReadOnlyList<HistoryPoint> History)
{
    public bool Completed => Status == "completed";

    /// <summary>The first moment the loss was at most <paramref name="target"/>: seconds and gradient evaluations
    /// spent until then (the loss at the start of step k was reached when step k-1 ended); null if never.</summary>
    public (double Seconds, long Gradients)? Reached(double target)
    {
        for (var k = 0; k < History.Count; k++)
            if (History[k].Loss is { } loss && loss <= target)
                return k == 0 ? (0, 0) : (History[k - 1].ElapsedSeconds, History[k - 1].GradientEvaluations);
        if (FinalLoss is { } final && final <= target)
            return History.Count > 0 ? (History[^1].ElapsedSeconds, History[^1].GradientEvaluations) : (0, 0);
        return null;
    }
}

/// <summary>A leaderboard row of results.json.</summary>
public sealed record RankedRow(int Rank, string Trial, double? MetricValue, double? FinalLoss, string Status);

/// <summary>results.json, read back: what <c>plot</c> and <c>report</c> work from, so that they show exactly the
/// numbers on disk.</summary>
public sealed record ResultsFile(
    string Path,
    string SweepId,
    string Name,
    string Status,
    string Metric,
    double? MetricTarget,
    IReadOnlyList<TrialOutcome> Trials,
    IReadOnlyList<RankedRow> Leaderboard)
{
    public static ResultsFile Load(string path)
    {
        if (!File.Exists(path)) throw new ReportInputException($"results = \"{path}\": no such file");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            var sweep = root.GetProperty("sweep");
            var metric = sweep.TryGetProperty("metric", out var m) ? m.GetString() ?? "final_loss" : "final_loss";
            var trials = root.GetProperty("trials").EnumerateArray().Select(Trial).ToList();
            var rows = root.GetProperty("leaderboard").EnumerateArray().Select(r => new RankedRow(
                r.GetProperty("rank").GetInt32(),
                r.GetProperty("trial").GetString()!,
                metric == "final_loss" ? Number(r, "final_loss") : Number(r, metric),
                Number(r, "final_loss"),
                r.TryGetProperty("status", out var s) ? s.GetString() ?? "" : "")).ToList();
            return new ResultsFile(path, sweep.GetProperty("id").GetString()!, sweep.GetProperty("name").GetString()!,
                sweep.GetProperty("status").GetString()!, metric, Number(sweep, "metric_target"), trials, rows);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ReportInputException($"results = \"{path}\": not a Descent results.json ({e.Message})");
        }
    }

    static TrialOutcome Trial(JsonElement t)
    {
        var config = t.GetProperty("config");
        var optimizer = config.GetProperty("optimizer").GetString()!;
        var task = t.GetProperty("task");
        var history = t.GetProperty("history").EnumerateArray().Select(h => new HistoryPoint(
            h.GetProperty("step").GetInt32(), Number(h, "loss"), h.GetProperty("elapsed_seconds").GetDouble(),
            h.GetProperty("forward_passes").GetInt64(), h.GetProperty("gradient_evaluations").GetInt64())).ToList();
        return new TrialOutcome(
            t.GetProperty("id").GetString()!,
            optimizer,
            ConfigText.Configuration(Pairs(config)),
            t.GetProperty("status").GetString()!,
            Number(t, "final_loss"),
            Number(t, "backward_share"),
            Number(t, "forward_seconds"),
            Number(t, "backward_seconds"),
            t.TryGetProperty("gradient_evaluations", out var g) && g.ValueKind == JsonValueKind.Number ? g.GetInt64() : null,
            Number(t, "wall_seconds"),
            // "linear n_row=5000 k=5 noise=0.5 seed=0"
            string.Join(" ", Pairs(task).Select(p => p.Key == "kind" ? ConfigText.Value(p.Value) : $"{p.Key}={ConfigText.Value(p.Value)}")),
            history);
    }

    /// <summary>An object's fields as the plan has them: strings, whole numbers as longs, other numbers as doubles.</summary>
    static IEnumerable<KeyValuePair<string, object?>> Pairs(JsonElement element) =>
        element.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, p.Value.ValueKind switch
        {
            JsonValueKind.String => p.Value.GetString(),
            JsonValueKind.Number when p.Value.TryGetInt64(out var whole) => whole,
            JsonValueKind.Number => p.Value.GetDouble(),
            JsonValueKind.Null => null,
            _ => p.Value.GetRawText(),
        }));

    static double? Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}

/// <summary>A results file or sweep id that plot/report cannot use (exit code 2).</summary>
public sealed class ReportInputException(string message) : Exception(message);
