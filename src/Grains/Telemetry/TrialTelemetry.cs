using System.Diagnostics;
using System.Diagnostics.Metrics;
using Descent.Contracts;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Training;

namespace Descent.Grains.Telemetry;

/// <summary>Which steps get spans; silo settings <c>Descent:Tracing:FirstSteps</c> and <c>Descent:Tracing:EveryStep</c>.</summary>
public sealed class TracingOptions
{
    public int FirstSteps { get; set; } = StepTracing.Default.FirstSteps;
    public int EveryStep { get; set; } = StepTracing.Default.Every;

    public StepTracing Steps => new(FirstSteps, EveryStep);
}

/// <summary>A trial's span and metrics: the <c>trial</c> span (child of the client's sweep span) carries the
/// configuration, where it ran, and the exact totals; the Descent meter counts trials by outcome and times them.</summary>
public static class TrialTelemetry
{
    static readonly Counter<long> Started = DescentTelemetry.Meter.CreateCounter<long>("descent.trials.started", "{trial}", "Trials started on a device");
    static readonly Counter<long> Completed = DescentTelemetry.Meter.CreateCounter<long>("descent.trials.completed", "{trial}", "Trials that ran until their budget ended them");
    static readonly Counter<long> Diverged = DescentTelemetry.Meter.CreateCounter<long>("descent.trials.diverged", "{trial}", "Trials whose loss became NaN or infinite");
    static readonly Counter<long> Failed = DescentTelemetry.Meter.CreateCounter<long>("descent.trials.failed", "{trial}", "Trials that could not run");
    static readonly Counter<long> Cancelled = DescentTelemetry.Meter.CreateCounter<long>("descent.trials.cancelled", "{trial}", "Trials stopped on request");
    static readonly Counter<long> HandedBack = DescentTelemetry.Meter.CreateCounter<long>("descent.trials.handed_back", "{trial}",
        "Trial attempts stopped because their silo shut down (placed again elsewhere, counted again as started)");
    static readonly Histogram<double> Duration = DescentTelemetry.Meter.CreateHistogram<double>("descent.trial.duration", "s", "Wall-clock time of a trial");
    static readonly Counter<double> ForwardTime = DescentTelemetry.Meter.CreateCounter<double>("descent.trial.forward_time", "s", "Time in forward passes, probes included");
    static readonly Counter<double> BackwardTime = DescentTelemetry.Meter.CreateCounter<double>("descent.trial.backward_time", "s", "Time in backward passes");

    /// <summary>Runs <paramref name="train"/> (on the trial's own thread) inside the trial span.</summary>
    /// <param name="handedBack">After training: was the attempt stopped because the silo shuts down (not on request)?</param>
    public static TrialResult Run(TrialLease lease, Func<TrialResult> train, Func<bool> handedBack)
    {
        var (spec, slot) = (lease.Spec, lease.Slot);
        var tags = new TagList { { "descent.optimizer", spec.Optimizer.Kind.Name() }, { "descent.device", slot.Name } };
        Started.Add(1, tags);
        using var span = DescentTelemetry.Silo.StartActivity("trial", ActivityKind.Internal, DescentTelemetry.ParentContext(lease.TraceParent));
        if (span is not null)
        {
            span.SetTag("descent.sweep.id", lease.SweepId);
            span.SetTag("descent.trial.id", lease.TrialId);
            span.SetTag("descent.attempt", lease.Attempt);
            span.SetTag("descent.configuration", spec.Optimizer.ToString());
            span.SetTag("descent.optimizer", spec.Optimizer.Kind.Name());
            span.SetTag("descent.task", spec.Task.Kind);
            span.SetTag("descent.seed", spec.Seed);
            span.SetTag("descent.budget.steps", spec.Budget.Steps);
            span.SetTag("descent.silo", slot.Silo);
            span.SetTag("descent.device", slot.Name);
        }
        var result = train();
        var back = result.Status == TrialStatus.Cancelled && handedBack();
        var outcome = back ? "handed_back" : result.Status.Name();
        if (span is not null)
        {
            span.SetTag("descent.status", outcome);
            span.SetTag("descent.final_loss", result.FinalLoss);
            span.SetTag("descent.best_loss", result.BestLoss);
            span.SetTag("descent.gradient_evaluations", result.GradientEvaluations);
            span.SetTag("descent.forward_passes", result.ForwardPasses);
            span.SetTag("descent.forward_seconds", result.ForwardSeconds);
            span.SetTag("descent.backward_seconds", result.BackwardSeconds);
            span.SetTag("descent.optimizer_seconds", result.OptimizerSeconds);
            span.SetTag("descent.backward_share", result.BackwardShare);
            span.SetTag("descent.wall_seconds", result.WallSeconds);
            if (result.Status == TrialStatus.Failed) span.SetStatus(ActivityStatusCode.Error, result.Message);
        }
        tags.Add("descent.status", outcome);
        (back ? HandedBack : result.Status switch
        {
            TrialStatus.Completed => Completed,
            TrialStatus.Diverged => Diverged,
            TrialStatus.Failed => Failed,
            _ => Cancelled,
        }).Add(1, tags);
        Duration.Record(result.WallSeconds, tags);
        ForwardTime.Add(result.ForwardSeconds, tags);
        BackwardTime.Add(result.BackwardSeconds, tags);
        return result;
    }
}
