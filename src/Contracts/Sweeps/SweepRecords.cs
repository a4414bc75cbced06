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
    public double? ValueOf(TrialResult result) => ValueOf(result.FinalLoss, result.History);

    /// <summary>The value this metric gives a trial that ended at <paramref name="finalLoss"/> after
    /// <paramref name="history"/> (a result, or a results file's trial); null when it never got there.</summary>
    public double? ValueOf(double? finalLoss, IReadOnlyList<StepRecord> history)
    {
        if (Kind == MetricKind.FinalLoss) return finalLoss is { } f && double.IsFinite(f) ? f : null;
        return Reached(history, finalLoss, Target ?? 0) is { } r ? (Kind == MetricKind.TimeToTarget ? r.Seconds : r.Gradients) : null;
    }

    /// <summary>The first moment a trial's loss was at most <paramref name="target"/>: the seconds and gradient
    /// evaluations spent until then (the loss at the start of step k was reached when step k-1 ended; the final loss
    /// when the last step ended); null if never. The one definition of time and gradients to a target: ranking,
    /// results files and the report all use it.</summary>
    public static (double Seconds, long Gradients)? Reached(IReadOnlyList<StepRecord> history, double? finalLoss, double target)
    {
        for (var k = 0; k < history.Count; k++)
            if (history[k].Loss <= target)
                return k == 0 ? (0, 0) : (history[k - 1].ElapsedSeconds, history[k - 1].GradientEvaluations);
        if (finalLoss is { } final && final <= target)
            return history.Count > 0 ? (history[^1].ElapsedSeconds, history[^1].GradientEvaluations) : (0, 0);
        return null;
    }

    public IEnumerable<SpecProblem> Problems()
    {
        if (Kind != MetricKind.FinalLoss && Target is null) yield return SpecProblem.Of("metric.target", null, $"{Name} needs a target loss");
        if (Target is { } t && !(t >= 0 && double.IsFinite(t))) yield return SpecProblem.Of("metric.target", t, "must be a finite number of 0 or more");
    }
}

/// <summary>A sweep as submitted: its trials, already expanded, how to rank them, and (from a grid file) the plan
/// they came from.</summary>
/// <param name="MaxRetries">How many times a trial is placed again after its lease was lost (its silo died, its trainer
/// hung), not after it failed on its own.</param>
/// <param name="Plan">The search space and each trial's configuration as results show it; null for sweeps built in
/// code, whose configurations are then derived from the specs.</param>
[GenerateSerializer, Immutable, Alias("descent.sweep-spec")]
public sealed record SweepSpec(
    [property: Id(0)] string Name,
    [property: Id(1)] IReadOnlyList<TrialSpec> Trials,
    [property: Id(2)] RankMetric Metric,
    [property: Id(3)] int MaxRetries = 2,
    [property: Id(4)] SweepPlanSource? Plan = null)
{
    public IReadOnlyList<SpecProblem> Problems()
    {
        var problems = new List<SpecProblem>();
        if (Trials.Count == 0) problems.Add(SpecProblem.Of("trials", 0, "a sweep needs at least one trial"));
        if (MaxRetries < 0) problems.Add(SpecProblem.Of("max_retries", MaxRetries, "must be 0 or more"));
        if (Plan is not null && Plan.Configs.Count != Trials.Count)
            problems.Add(SpecProblem.Of("plan.configs", Plan.Configs.Count, $"must give one configuration per trial ({Trials.Count})"));
        problems.AddRange(Metric.Problems());
        for (var i = 0; i < Trials.Count; i++)
            problems.AddRange(Trials[i].Problems().Select(p => p with { Field = $"trials[{i}].{p.Field}" }));
        return problems;
    }
}

/// <summary>Where a sweep's trials came from: the grid file as the client read it (the search space, so the
/// cluster holds it with the sweep) and each trial's configuration as results show it, as a JSON object, in the order
/// of <see cref="SweepSpec.Trials"/> (so every command shows the same configuration the sweep showed).</summary>
/// <param name="Grid">The grid file's text.</param>
/// <param name="Folder">The folder it was read from, against which its relative CSV paths were resolved.</param>
/// <param name="Method"><c>grid</c> or <c>random</c>.</param>
[GenerateSerializer, Immutable, Alias("descent.sweep-plan-source")]
public sealed record SweepPlanSource(
    [property: Id(0)] string Grid,
    [property: Id(1)] string Folder,
    [property: Id(2)] string Method,
    [property: Id(3)] IReadOnlyList<string> Configs);

/// <summary>A sweep's lifecycle: running until every trial has ended (done) or it is cancelled.</summary>
[GenerateSerializer]
public enum SweepStatus { Queued, Running, Done, Failed, Cancelled }

public static class SweepStatusNames
{
    public static string Name(this SweepStatus status) => status.ToString().ToLowerInvariant();

    public static bool IsEnded(this SweepStatus status) => status is SweepStatus.Done or SweepStatus.Failed or SweepStatus.Cancelled;
}

/// <summary>A device slot of one silo: <see cref="Device"/> is what TorchSharp is given ("cpu", "cuda:1");
/// <see cref="Name"/> tells slots apart ("cpu:0", "cpu:1", "cuda:1").</summary>
[GenerateSerializer, Immutable, Alias("descent.device-slot")]
public sealed record DeviceSlot(
    [property: Id(0)] string Silo,
    [property: Id(1)] int Index,
    [property: Id(2)] string Device,
    [property: Id(3)] string Name);

/// <summary>A running trial as the sweep's coordinator knows it from its lease: where it runs and its last step
/// (pushed by the device worker with each lease renewal, about once a second).</summary>
/// <param name="Step">Steps finished so far; <paramref name="Loss"/> is the loss at the start of the last one.</param>
[GenerateSerializer, Immutable, Alias("descent.trial-progress")]
public sealed record TrialProgress(
    [property: Id(0)] string TrialId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] string Silo,
    [property: Id(3)] string Device,
    [property: Id(4)] int Step = 0,
    [property: Id(5)] double? Loss = null);

/// <summary>What a sweep's ranking and progress need of a trial: its status, attempt, and, once ended, its final
/// loss, the sweep metric's value and why it ended. Small and of fixed size: no history.</summary>
/// <param name="Attempt">How many times the trial was placed (0: never).</param>
/// <param name="MetricValue">The sweep metric's value (<see cref="RankMetric.ValueOf"/>); null when not reached.</param>
/// <param name="HasRecord">A full result (<see cref="TrialRecord"/>) is stored with the trial: it ran and reported.</param>
[GenerateSerializer, Immutable, Alias("descent.trial-summary")]
public sealed record TrialSummary(
    [property: Id(0)] string TrialId,
    [property: Id(1)] TrialStatus Status,
    [property: Id(2)] int Attempt,
    [property: Id(3)] double FinalLoss = double.NaN,
    [property: Id(4)] double? MetricValue = null,
    [property: Id(5)] string? Message = null,
    [property: Id(6)] bool HasRecord = false)
{
    public static TrialSummary Of(TrialRecord record, RankMetric metric) =>
        new(record.TrialId, record.Result.Status, record.Attempts, record.Result.FinalLoss, metric.ValueOf(record.Result), record.Result.Message, true);

    /// <summary>A trial its sweep cancelled while it waited for a device.</summary>
    public static TrialSummary CancelledBeforeRun(string trialId, int attempt) =>
        new(trialId, TrialStatus.Cancelled, attempt, Message: "sweep cancelled before it ran");
}

/// <summary>A sweep's state for status queries and live progress: counts by status and the running trials (at most
/// one per device of the cluster). Its size does not grow with the sweep.</summary>
/// <param name="Counts">Trials by <see cref="TrialStatus"/> (indexed by its value).</param>
/// <param name="Running">The trials holding a lease, with their last reported step.</param>
/// <param name="EndedCount">How many trials have ended with a summary so far: <see cref="ISweepCoordinatorGrain.GetEnded"/>
/// lists them, in the order of <paramref name="EndedEpoch"/> (the coordinator's activation).</param>
[GenerateSerializer, Immutable, Alias("descent.sweep-snapshot")]
public sealed record SweepSnapshot(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] SweepStatus Status,
    [property: Id(3)] DateTimeOffset? StartedAt,
    [property: Id(4)] DateTimeOffset? FinishedAt,
    [property: Id(5)] int TrialCount,
    [property: Id(6)] IReadOnlyList<int> Counts,
    [property: Id(7)] IReadOnlyList<TrialProgress> Running,
    [property: Id(8)] int EndedCount,
    [property: Id(9)] int ClusterDevices,
    [property: Id(10)] string? Message = null,
    [property: Id(11)] int EndedEpoch = 0)
{
    public int Count(TrialStatus status) => (int)status < Counts.Count ? Counts[(int)status] : 0;

    /// <summary>Trials that will not run again.</summary>
    public int Ended => StatusNames.Ends.Sum(Count);
}

/// <summary>A trial's full result: what ran, where and when (it held its device from
/// <see cref="StartedAt"/> to <see cref="FinishedAt"/>), which attempt it was, and what it did.</summary>
/// <param name="Attempts">The attempt that produced this result: how many times the trial had been placed.</param>
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

[GenerateSerializer, Immutable, Alias("descent.leaderboard-row")]
public sealed record LeaderboardRow(
    [property: Id(0)] int Rank,
    [property: Id(1)] string TrialId,
    [property: Id(2)] double? MetricValue,
    [property: Id(3)] double FinalLoss,
    [property: Id(4)] TrialStatus Status);

[GenerateSerializer, Immutable, Alias("descent.leaderboard")]
public sealed record Leaderboard(
    [property: Id(0)] RankMetric Metric,
    [property: Id(1)] IReadOnlyList<LeaderboardRow> Rows)
{
    /// <summary>Trials that reached the metric first (lowest value), then those that did not (lowest final loss);
    /// cancelled trials, which did not run their budget, are listed last. Ties by trial id.</summary>
    public static Leaderboard Rank(RankMetric metric, IEnumerable<TrialSummary> trials)
    {
        var ordered = trials
            .OrderBy(e => e.Status == TrialStatus.Cancelled)
            .ThenBy(e => e.MetricValue is null)
            .ThenBy(e => e.MetricValue ?? double.MaxValue)
            .ThenBy(e => double.IsFinite(e.FinalLoss) ? e.FinalLoss : double.MaxValue)
            .ThenBy(e => e.TrialId, StringComparer.Ordinal);
        return new Leaderboard(metric, [.. ordered.Select((e, i) => new LeaderboardRow(i + 1, e.TrialId, e.MetricValue, e.FinalLoss, e.Status))]);
    }

    /// <summary>The ranking of full results by <paramref name="metric"/>.</summary>
    public static Leaderboard Rank(RankMetric metric, IEnumerable<TrialRecord> records) =>
        Rank(metric, records.Select(r => TrialSummary.Of(r, metric)));
}

/// <summary>One attempt of one trial, leased to a device: what the device worker runs. The lease holds while the worker
/// renews it (<see cref="ISweepCoordinatorGrain.Renew"/>) at least every <see cref="Timeout"/>; after that the trial is
/// placed again with the next attempt number and this attempt's result is ignored.</summary>
/// <param name="Metric">The sweep's metric, so the worker reports the trial's value with its summary.</param>
/// <param name="TraceParent">The client's sweep span (W3C trace context), parent of the trial span.</param>
[GenerateSerializer, Immutable, Alias("descent.trial-lease")]
public sealed record TrialLease(
    [property: Id(0)] string SweepId,
    [property: Id(1)] string TrialId,
    [property: Id(2)] int Attempt,
    [property: Id(3)] TrialSpec Spec,
    [property: Id(4)] DeviceSlot Slot,
    [property: Id(5)] RankMetric Metric,
    [property: Id(6)] TimeSpan Timeout,
    [property: Id(7)] string? TraceParent = null)
{
    /// <summary>The trial grain's key: "sweep-id/trial-id".</summary>
    public string TrialKey => TrialKeys.Of(SweepId, TrialId);
}

/// <summary>A device worker's renewal of one lease, with the trial's last step.</summary>
/// <param name="Silent">How long ago the trainer last showed a sign of life (entered a phase of a step): the lease
/// runs from then, so a hung trainer loses it one lease timeout after it fell silent.</param>
/// <param name="Waiting">The attempt was leased ahead and waits for its slot's current trial to end: it has not
/// started, so losing it (its silo dies) is not counted against the trial's retries.</param>
[GenerateSerializer, Immutable, Alias("descent.lease-renewal")]
public sealed record LeaseRenewal(
    [property: Id(0)] string TrialId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] DeviceSlot Slot,
    [property: Id(3)] int Step,
    [property: Id(4)] double? Loss,
    [property: Id(5)] TimeSpan Silent,
    [property: Id(6)] bool Waiting = false);

/// <summary>The slot holding a running trial's current attempt, as its trial grain last wrote it.</summary>
/// <param name="Ahead">Begun ahead: held ready on a slot busy with another trial (it may have started since).</param>
/// <param name="Attempt">The attempt that slot holds (0 from a grain of an older version).</param>
[GenerateSerializer, Immutable, Alias("descent.trial-holder")]
public sealed record TrialHolder(
    [property: Id(0)] DeviceSlot Slot,
    [property: Id(1)] bool Ahead,
    [property: Id(2)] int Attempt = 0);

/// <summary>The coordinator's answer to renewals: the trials whose trainers must stop.</summary>
/// <param name="Stop">The sweep was cancelled: the trainer stops and its result (cancelled) is reported.</param>
/// <param name="Revoked">The leases, each a trial's attempt, no longer this worker's (it expired and the trial was placed
/// again, or another slot holds it): the trainer stops and nothing is reported, since that attempt's result is not the
/// trial's. By attempt, since a worker may renew two of one trial's (one held ready on a slot, and since leased to
/// another of its slots, which idled): only the older is revoked. (Id 1, the trials alone, is no longer used.)</param>
[GenerateSerializer, Immutable, Alias("descent.renew-reply")]
public sealed record RenewReply(
    [property: Id(0)] IReadOnlyList<string> Stop,
    [property: Id(2)] IReadOnlyList<LeaseAttempt>? Revoked = null);

/// <summary>One attempt of one trial: what a lease is for.</summary>
[GenerateSerializer, Immutable, Alias("descent.lease-attempt")]
public sealed record LeaseAttempt(
    [property: Id(0)] string TrialId,
    [property: Id(1)] int Attempt);

public static class TrialKeys
{
    /// <summary>A trial grain's key: "sweep-id/trial-id".</summary>
    public static string Of(string sweepId, string trialId) => $"{sweepId}/{trialId}";
}
