using System.Text.Json;
using System.Text.Json.Serialization;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Results;

/// <summary>
/// A sweep's <c>results.json</c> (README, "Results"): the sweep, every trial in plan order, the ranking. The one model
/// of results: descent-client writes it at the end of a sweep and journals its trials as they end; <c>plot</c> and
/// <c>report</c> read it back. On disk through <see cref="ResultsJson"/> only: keys in snake_case in declaration order,
/// numbers that are not finite as <c>null</c>, times as <c>2025-03-04T05:06:07.089Z</c>.
/// </summary>
/// <remarks>Properties marked <c>required</c> are those a reader cannot do without; a file that lacks one is not a
/// results file. Every other key is written too (but <c>metric_target</c> and the leaderboard's metric, where a property
/// says so), and read as null (or 0) when absent.</remarks>
public sealed record ResultsDocument
{
    public required SweepHeader Sweep { get; init; }

    /// <summary>Every trial of the sweep, in plan order, also those that never ran.</summary>
    public required IReadOnlyList<TrialEntry> Trials { get; init; }

    /// <summary>The trials that ended, best first by the sweep's metric (<see cref="Contracts.Sweeps.Leaderboard.Rank(RankMetric, IEnumerable{TrialSummary})"/>).</summary>
    public required IReadOnlyList<LeaderboardEntry> Leaderboard { get; init; }
}

/// <summary>The sweep: <c>results.json</c>'s <c>sweep</c> object.</summary>
public sealed record SweepHeader
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    /// <summary><c>done</c> or <c>cancelled</c> at the end of a sweep; <c>running</c> in a leaderboard of a sweep that runs on.</summary>
    public required SweepStatus Status { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>How many trials the plan has (the length of <see cref="ResultsDocument.Trials"/>).</summary>
    public int TrialCount { get; init; }

    /// <summary>The ranking metric, by its name (<see cref="RankMetric.Name"/>): <c>final_loss</c> when absent.</summary>
    public MetricKind Metric { get; init; }

    /// <summary>The metric's target loss; the key is left out when there is none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MetricTarget { get; init; }

    [JsonIgnore]
    public RankMetric RankMetric => new(Metric, MetricTarget);
}

/// <summary>One trial: an element of <c>results.json</c>'s <c>trials</c>, and a line of <c>trials.jsonl</c>.</summary>
public sealed record TrialEntry : IJsonOnDeserialized
{
    public required string Id { get; init; }

    /// <summary><c>optimizer</c>, <c>variant</c>, <c>lr</c>, <c>max_steps</c>, <c>scale_i</c> (null where the optimizer
    /// does not read it), then every other swept field, in the plan's order; values are strings, whole numbers
    /// (<see cref="int"/> or <see cref="long"/>; read back as <see cref="long"/>), other numbers (<see cref="double"/>) or null.</summary>
    [JsonConverter(typeof(FieldsConverter))]
    public required IReadOnlyList<KeyValuePair<string, object?>> Config { get; init; }

    /// <summary><c>kind</c>, the kind's fields, <c>seed</c> (values as in <see cref="Config"/>).</summary>
    [JsonConverter(typeof(FieldsConverter))]
    public required IReadOnlyList<KeyValuePair<string, object?>> Task { get; init; }

    /// <summary><c>steps</c>, <c>seconds</c>, <c>target_loss</c> (null: not set).</summary>
    public required Budget Budget { get; init; }

    public required TrialStatus Status { get; init; }

    /// <summary>Why the trial ended, where that needs saying (<see cref="TrialResult.Message"/>), or null.</summary>
    public string? Message { get; init; }

    // The totals: null while the trial has no result (failed before it ran, running, queued, cancelled before it ran).

    public double? FinalLoss { get; init; }

    public double? BestLoss { get; init; }

    public long? GradientEvaluations { get; init; }

    public long? ForwardPasses { get; init; }

    /// <summary>Seconds of forward passes, the optimizers' loss-only probes included.</summary>
    public double? ForwardSeconds { get; init; }

    public double? BackwardSeconds { get; init; }

    public double? OptimizerSeconds { get; init; }

    /// <summary>Backward seconds as a share of forward plus backward seconds (the post's "about 80%").</summary>
    public double? BackwardShare { get; init; }

    public double? WallSeconds { get; init; }

    /// <summary>Where and when it ran (its full record); null without one.</summary>
    public string? Silo { get; init; }

    public string? Device { get; init; }

    /// <summary>How many times the trial was placed (0: never).</summary>
    public int Attempts { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>One record per outer step, as the trainer reported it (<c>step</c>, <c>loss</c> at the start of the
    /// step, null when it was not finite and read back as NaN, then <c>elapsed_seconds</c>, <c>forward_passes</c>,
    /// <c>gradient_evaluations</c> after it); empty without a result.</summary>
    public required IReadOnlyList<StepRecord> History { get; init; }

    /// <summary>The optimizer's name, <c>config.optimizer</c>: <c>keep-stepping</c> (a file without one is not read).</summary>
    [JsonIgnore]
    public string Optimizer => Config.FirstOrDefault(c => c.Key == "optimizer").Value as string ?? "";

    /// <summary>The optimizer and its settings (<see cref="ConfigText.Configuration"/>): <c>keep-stepping lr=0.001 max_steps=50 scale_i=2 variant=seed</c>.</summary>
    [JsonIgnore]
    public string Configuration => ConfigText.Configuration(Config);

    /// <summary>The first moment the loss was at most <paramref name="target"/>: seconds and gradient evaluations
    /// spent until then (the loss at the start of step k was reached when step k-1 ended); null if never.</summary>
    public (double Seconds, long Gradients)? Reached(double target) => RankMetric.Reached(History, FinalLoss, target);

    void IJsonOnDeserialized.OnDeserialized()
    {
        if (Optimizer.Length == 0) throw new JsonException($"trial \"{Id}\": its config has no optimizer");
    }
}

/// <summary>A row of the leaderboard.</summary>
public sealed record LeaderboardEntry
{
    public required int Rank { get; init; }

    /// <summary>The trial's id.</summary>
    public required string Trial { get; init; }

    /// <summary>The optimizer's name, spelt as <c>trials[].config.optimizer</c>.</summary>
    public string? Optimizer { get; init; }

    /// <summary>The optimizer with every setting it reads, as every table writes it (<see cref="TrialEntry.Configuration"/>).</summary>
    public string? Configuration { get; init; }

    // The metric's value under the metric's name, present only when the sweep ranks by it (for final_loss, the
    // final_loss key is the value): null here leaves the key out. A trial that never reached the target took
    // infinitely long: infinity, written (and read back from) null.

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), JsonConverter(typeof(NeverReachedConverter))]
    public double? TimeToTarget { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), JsonConverter(typeof(NeverReachedConverter))]
    public double? GradientsToTarget { get; init; }

    public double? FinalLoss { get; init; }

    public required TrialStatus Status { get; init; }

    /// <summary>This row's value of <paramref name="metric"/>; null when the trial never reached the target (or its final
    /// loss was not finite).</summary>
    public double? Value(MetricKind metric)
    {
        var value = metric switch
        {
            MetricKind.FinalLoss => FinalLoss,
            MetricKind.TimeToTarget => TimeToTarget,
            _ => GradientsToTarget,
        };
        return value is { } v && double.IsFinite(v) ? v : null;
    }

    /// <summary>The rows of <paramref name="table"/>, each with its trial's optimizer and configuration from
    /// <paramref name="trials"/>: what results.json's leaderboard has, and what a journal's reader ranks.</summary>
    public static IReadOnlyList<LeaderboardEntry> Of(Leaderboard table, IEnumerable<TrialEntry> trials)
    {
        var byId = trials.DistinctBy(t => t.Id).ToDictionary(t => t.Id);
        return [.. table.Rows.Select(row => Of(row, table.Metric.Kind, byId.GetValueOrDefault(row.TrialId)))];
    }

    /// <summary>The row of <paramref name="row"/> in a leaderboard ranked by <paramref name="metric"/>; its optimizer
    /// and configuration are <paramref name="trial"/>'s (null without it).</summary>
    public static LeaderboardEntry Of(LeaderboardRow row, MetricKind metric, TrialEntry? trial) => new()
    {
        Rank = row.Rank,
        Trial = row.TrialId,
        Optimizer = trial?.Optimizer,
        Configuration = trial?.Configuration,
        TimeToTarget = metric == MetricKind.TimeToTarget ? row.MetricValue ?? double.PositiveInfinity : null,
        GradientsToTarget = metric == MetricKind.GradientsToTarget ? row.MetricValue ?? double.PositiveInfinity : null,
        FinalLoss = row.FinalLoss,
        Status = row.Status,
    };
}

/// <summary>The first line of <c>trials.jsonl</c>: <c>{"sweep": {...}}</c>, written when the sweep starts.</summary>
public sealed record JournalHeader
{
    public required JournalSweep Sweep { get; init; }
}

/// <summary>The sweep as its journal starts: what <see cref="SweepHeader"/> says of it before it ends, in the order the
/// journal has always written it.</summary>
public sealed record JournalSweep
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    public MetricKind Metric { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? MetricTarget { get; init; }

    public int TrialCount { get; init; }

    public DateTimeOffset? StartedAt { get; init; }
}
