using Descent.Contracts.Trials;

namespace Descent.Contracts.Sweeps;

/// <summary>How a sweep ranks its trials.</summary>
[GenerateSerializer]
public enum MetricKind
{
    /// <summary>Lowest final loss first.</summary>
    FinalLoss,
    /// <summary>Fewest seconds until the loss at the start of a step was at most the target.</summary>
    TimeToTarget,
    /// <summary>Fewest gradient evaluations until the loss at the start of a step was at most the target.</summary>
    GradientsToTarget,
}

[GenerateSerializer, Immutable, Alias("descent.metric")]
public sealed record RankMetric(
    [property: Id(0)] MetricKind Kind = MetricKind.FinalLoss,
    [property: Id(1)] double? Target = null)
{
    public string Name => Kind switch
    {
        MetricKind.FinalLoss => "final_loss",
        MetricKind.TimeToTarget => "time_to_target",
        _ => "gradients_to_target",
    };

    /// <summary>The value this metric gives a trial; null when the trial never got there (ranked last).</summary>
    public double? ValueOf(TrialResult result)
    {
        if (Kind == MetricKind.FinalLoss) return double.IsFinite(result.FinalLoss) ? result.FinalLoss : null;
        var target = Target ?? 0;
        foreach (var step in result.History)
            if (step.Loss <= target)
                return Kind == MetricKind.TimeToTarget ? PreviousElapsed(result, step) : step.GradientEvaluations - 1;
        // The target may be met by the final loss, after the last step.
        if (result.FinalLoss <= target)
        {
            if (result.History.Count == 0) return 0; // met before any step
            return Kind == MetricKind.TimeToTarget ? result.History[^1].ElapsedSeconds : result.History[^1].GradientEvaluations;
        }
        return null;
    }

    // The loss at the start of step k was reached at the end of step k-1.
    static double PreviousElapsed(TrialResult result, StepRecord step)
    {
        var index = step.Step - 2;
        return index >= 0 && index < result.History.Count ? result.History[index].ElapsedSeconds : 0;
    }

    public IEnumerable<SpecProblem> Problems()
    {
        if (Kind != MetricKind.FinalLoss && Target is null) yield return SpecProblem.Of("metric.target", null, $"{Name} needs a target loss");
        if (Target is { } t && !(t >= 0 && double.IsFinite(t))) yield return SpecProblem.Of("metric.target", t, "must be a finite number of 0 or more");
    }
}

/// <summary>A sweep as submitted: its trials, already expanded, and how to rank them.</summary>
/// <param name="MaxRetries">How many times a trial is placed again after its silo was lost (not after it failed on its own).</param>
[GenerateSerializer, Immutable, Alias("descent.sweep-spec")]
public sealed record SweepSpec(
    [property: Id(0)] string Name,
    [property: Id(1)] IReadOnlyList<TrialSpec> Trials,
    [property: Id(2)] RankMetric Metric,
    [property: Id(3)] int MaxRetries = 2)
{
    public IReadOnlyList<SpecProblem> Problems()
    {
        var problems = new List<SpecProblem>();
        if (Trials.Count == 0) problems.Add(SpecProblem.Of("trials", 0, "a sweep needs at least one trial"));
        if (MaxRetries < 0) problems.Add(SpecProblem.Of("max_retries", MaxRetries, "must be 0 or more"));
        problems.AddRange(Metric.Problems());
        for (var i = 0; i < Trials.Count; i++)
            problems.AddRange(Trials[i].Problems().Select(p => p with { Field = $"trials[{i}].{p.Field}" }));
        return problems;
    }
}

[GenerateSerializer]
public enum SweepStatus { Queued, Running, Done, Failed, Cancelled }

[GenerateSerializer]
public enum TrialState { Queued, Running, Completed, Diverged, Failed, Cancelled }

/// <summary>A device slot of one silo: <see cref="Device"/> is what TorchSharp is given ("cpu", "cuda:1");
/// <see cref="Name"/> tells slots apart ("cpu:0", "cpu:1", "cuda:1").</summary>
[GenerateSerializer, Immutable, Alias("descent.device-slot")]
public sealed record DeviceSlot(
    [property: Id(0)] string Silo,
    [property: Id(1)] int Index,
    [property: Id(2)] string Device,
    [property: Id(3)] string Name);

/// <summary>Where a trial stands, as the coordinator and the trial grain know it.</summary>
[GenerateSerializer, Immutable, Alias("descent.trial-progress")]
public sealed record TrialProgress(
    [property: Id(0)] string TrialId,
    [property: Id(1)] TrialState State,
    [property: Id(2)] int Attempts,
    [property: Id(3)] string? Silo = null,
    [property: Id(4)] string? Device = null,
    [property: Id(5)] int Step = 0,
    [property: Id(6)] double? Loss = null,
    [property: Id(7)] string? Message = null);

/// <summary>A sweep's state for status queries and live progress.</summary>
[GenerateSerializer, Immutable, Alias("descent.sweep-snapshot")]
public sealed record SweepSnapshot(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] SweepStatus Status,
    [property: Id(3)] DateTimeOffset? StartedAt,
    [property: Id(4)] DateTimeOffset? FinishedAt,
    [property: Id(5)] IReadOnlyList<TrialProgress> Trials,
    [property: Id(6)] int ClusterDevices,
    [property: Id(7)] string? Message = null)
{
    public int TrialCount => Trials.Count;
    public int Count(TrialState state) => Trials.Count(t => t.State == state);
    public int Ended => Trials.Count(t => t.State is not (TrialState.Queued or TrialState.Running));
}

/// <summary>A trial's full result: what ran, where and when (it held its device from
/// <see cref="StartedAt"/> to <see cref="FinishedAt"/>), how often it was placed, and what it did.</summary>
[GenerateSerializer, Immutable, Alias("descent.trial-record")]
public sealed record TrialRecord(
    [property: Id(0)] string TrialId,
    [property: Id(1)] TrialSpec Spec,
    [property: Id(2)] TrialResult Result,
    [property: Id(3)] string Silo,
    [property: Id(4)] string Device,
    [property: Id(5)] int Attempts,
    [property: Id(6)] DateTimeOffset StartedAt,
    [property: Id(7)] DateTimeOffset FinishedAt);

/// <summary>What ranking needs of a result: its row before the rank is known.</summary>
[GenerateSerializer, Immutable, Alias("descent.leaderboard-entry")]
public sealed record LeaderboardEntry(
    [property: Id(0)] string TrialId,
    [property: Id(1)] string Optimizer,
    [property: Id(2)] TrialStatus Status,
    [property: Id(3)] double FinalLoss,
    [property: Id(4)] double? MetricValue);

[GenerateSerializer, Immutable, Alias("descent.leaderboard-row")]
public sealed record LeaderboardRow(
    [property: Id(0)] int Rank,
    [property: Id(1)] string TrialId,
    [property: Id(2)] string Optimizer,
    [property: Id(3)] double? MetricValue,
    [property: Id(4)] double FinalLoss,
    [property: Id(5)] TrialStatus Status);

[GenerateSerializer, Immutable, Alias("descent.leaderboard")]
public sealed record Leaderboard(
    [property: Id(0)] RankMetric Metric,
    [property: Id(1)] IReadOnlyList<LeaderboardRow> Rows);

/// <summary>What the coordinator hands a silo to run.</summary>
[GenerateSerializer, Immutable, Alias("descent.trial-assignment")]
public sealed record TrialAssignment(
    [property: Id(0)] string SweepId,
    [property: Id(1)] string TrialId,
    [property: Id(2)] TrialSpec Spec,
    [property: Id(3)] int Attempt,
    [property: Id(4)] string? TraceParent = null);

/// <summary>A trial a silo accepted: running on <see cref="Slot"/>, or (null) next in line for the silo's first
/// free device, so that a device never waits for a round trip to the coordinator.</summary>
[GenerateSerializer, Immutable, Alias("descent.placement")]
public sealed record Placement(
    [property: Id(0)] string TrialId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] DeviceSlot? Slot);
