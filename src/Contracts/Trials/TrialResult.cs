namespace Descent.Contracts.Trials;

/// <summary>A trial's lifecycle, the one status enum of Descent: queued, running (holding a lease on a device), then
/// one of the four ends. <see cref="TrialResult.Status"/> is always an end.</summary>
[GenerateSerializer]
public enum TrialStatus
{
    /// <summary>Waiting for a device (never placed, or placed again after its lease expired).</summary>
    Queued,
    /// <summary>Holding a lease on a device; the trainer runs.</summary>
    Running,
    /// <summary>Ran until its budget (steps, seconds or target loss) ended it.</summary>
    Completed,
    /// <summary>The loss became NaN or infinite; the trial stopped there.</summary>
    Diverged,
    /// <summary>The trial could not run (bad data, such as a CSV cell that is not a finite float32; a model too large
    /// for Newton; a missing device, ...).</summary>
    Failed,
    /// <summary>Stopped on request before its budget ended.</summary>
    Cancelled,
}

/// <summary>Names of statuses as files, tables and spans spell them: <c>queued</c>, <c>running</c>, <c>completed</c>, ...</summary>
public static class StatusNames
{
    static readonly string[] Names = [.. Enum.GetNames<TrialStatus>().Select(n => n.ToLowerInvariant())];

    public static string Name(this TrialStatus status) => Names[(int)status];

    /// <summary>Completed, diverged, failed or cancelled: the trial will not run again.</summary>
    public static bool IsEnded(this TrialStatus status) => status is not (TrialStatus.Queued or TrialStatus.Running);

    /// <summary>The four ends, in the order summaries list them.</summary>
    public static readonly IReadOnlyList<TrialStatus> Ends = [TrialStatus.Completed, TrialStatus.Diverged, TrialStatus.Failed, TrialStatus.Cancelled];
}

/// <summary>
/// One outer step. <see cref="Loss"/> is the loss at the start of the step, as the post records it; the
/// other fields are read after the step: seconds since the trial started and the cumulative counts.
/// </summary>
[GenerateSerializer, Immutable, Alias("descent.step")]
public sealed record StepRecord(
    [property: Id(0)] int Step,
    [property: Id(1)] double Loss,
    [property: Id(2)] double ElapsedSeconds,
    [property: Id(3)] long ForwardPasses,
    [property: Id(4)] long GradientEvaluations);

/// <summary>What one trial did. Seconds are wall-clock; a probe (a loss-only forward pass) counts as forward time.</summary>
/// <param name="Message">One line: why the trial ended, where that needs saying (a time or target budget, the
/// divergence, the failure with the field or the file's line and column), then the optimizer's note on how it stepped
/// (newton: which steps found the Hessian rank-deficient), joined by "; "; null when there is nothing to say.</param>
/// <param name="FinalLoss">The loss after the last step (NaN when the trial failed before measuring one).</param>
/// <param name="ForwardSeconds">Forward passes: with a graph for gradients, and the optimizers' loss-only probes.</param>
/// <param name="BackwardSeconds">Gradient computation (for newton, also the Hessian's backward passes).</param>
/// <param name="OptimizerSeconds">Parameter updates and the optimizers' own arithmetic, probes excluded.</param>
[GenerateSerializer, Immutable, Alias("descent.trial-result")]
public sealed record TrialResult(
    [property: Id(0)] TrialStatus Status,
    [property: Id(1)] string? Message,
    [property: Id(2)] double FinalLoss,
    [property: Id(3)] double BestLoss,
    [property: Id(4)] long ForwardPasses,
    [property: Id(5)] long GradientEvaluations,
    [property: Id(6)] double ForwardSeconds,
    [property: Id(7)] double BackwardSeconds,
    [property: Id(8)] double OptimizerSeconds,
    [property: Id(9)] double WallSeconds,
    [property: Id(10)] IReadOnlyList<StepRecord> History)
{
    /// <summary>Backward time as a share of forward plus backward time (the post's "about 80%").</summary>
    public double BackwardShare =>
        ForwardSeconds + BackwardSeconds > 0 ? BackwardSeconds / (ForwardSeconds + BackwardSeconds) : double.NaN;
}
