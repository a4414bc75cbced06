using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Telemetry;
using Descent.Grains.Training;
using Microsoft.Extensions.Options;

namespace Descent.Grains.Sweeps;

/// <summary>What a device worker runs for a lease, on the trial's own thread. The silo's runner is
/// <see cref="TorchTrialRunner"/>; the seam lets tests stand a trainer that hangs in its place.</summary>
public interface ITrialRunner
{
    /// <param name="onStep">Called after every outer step.</param>
    /// <param name="heartbeat">Called whenever the trainer enters a phase of a step: its sign of life.</param>
    /// <param name="handedBack">After training: was the attempt stopped because the silo shuts down?</param>
    TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack);
}

/// <summary>The <see cref="Trainer"/> inside the trial's span (<see cref="TrialTelemetry"/>).
/// A CSV task whose file is not under the silo's data root (<see cref="DataRoot"/>) fails before its file is opened.
public sealed class TorchTrialRunner(IOptions<TracingOptions> tracing, IOptions<DataRootOptions> data) : ITrialRunner
{
    public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack) =>
        TrialTelemetry.Run(lease, () => DataRoot.Problem(lease.Spec.Task, data.Value.Root) is { } refused
            ? new TrialResult(TrialStatus.Failed, refused, double.NaN, double.NaN, 0, 0, 0, 0, 0, 0, [])
            : Trainer.Run(lease.Spec, lease.Slot.Device, onStep, cancellation, tracing.Value.Steps, heartbeat), handedBack);
}
