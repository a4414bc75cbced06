using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Devices;
using Descent.Grains.Telemetry;
using Descent.Grains.Training;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;

namespace Descent.Grains.Sweeps;

/// <summary>
/// One trial of one sweep. Holds the device the silo worker claimed for it while the trainer runs on a
/// dedicated thread (a trial takes minutes; grain calls time out after 30 s and the Orleans scheduler must
/// never block), keeps the latest step for progress queries, and reports the result to the coordinator.
/// On a graceful silo shutdown it stops the trainer and hands the trial back to be placed elsewhere.
/// </summary>
[Orleans.Placement.PreferLocalPlacement]
public sealed class TrialGrain(DeviceInventory devices, ILocalSiloDetails silo, IGrainFactory grains, IOptions<TracingOptions> tracing,
    ILogger<TrialGrain> log)
    : Grain, ITrialGrain
{
    TrialAssignment? _assignment;
    DeviceSlot? _slot;
    CancellationTokenSource? _cancel;
    Task? _watch;
    StepRecord? _last; // written by the trainer thread, read by progress queries
    TrialProgress? _ended;
    Task<TrialResult>? _run;
    bool _handingBack;
    DateTimeOffset _startedAt;

    public static string Key(string sweepId, string trialId) => $"{sweepId}/{trialId}";

    string SweepId => _assignment!.SweepId;

    public Task<bool> Start(TrialAssignment assignment, DeviceSlot slot)
    {
        if (_watch is { IsCompleted: false })
            return Task.FromResult(_assignment == assignment && _slot == slot); // a repeated offer of the running attempt
        var key = this.GetPrimaryKeyString();
        if (slot.Silo != silo.SiloAddress.Key() || !devices.IsHeldBy(slot, key))
            return Task.FromResult(false);

        (_assignment, _slot, _last, _ended, _handingBack, _startedAt) = (assignment, slot, null, null, false, DateTimeOffset.UtcNow);
        _cancel = new CancellationTokenSource();
        var token = _cancel.Token;
        var steps = tracing.Value.Steps;
        _run = TrialThread.Run(() => TrialTelemetry.Run(assignment, slot,
            () => Trainer.Run(assignment.Spec, slot.Device, step => Volatile.Write(ref _last, step), token, steps),
            () => Volatile.Read(ref _handingBack)), key);
        _watch = ReportWhenDone(_run);
        DelayDeactivation(TimeSpan.FromDays(7)); // idle collection must not take a running trial
        return Task.FromResult(true);
    }

    public Task<TrialProgress?> GetProgress()
    {
        if (_assignment is null) return Task.FromResult<TrialProgress?>(null);
        if (_ended is not null) return Task.FromResult<TrialProgress?>(_ended);
        var last = Volatile.Read(ref _last);
        return Task.FromResult<TrialProgress?>(new TrialProgress(_assignment.TrialId, TrialState.Running, _assignment.Attempt,
            _slot!.Silo, _slot.Name, last?.Step ?? 0, last?.Loss));
    }

    public Task Cancel()
    {
        _cancel?.Cancel();
        return Task.CompletedTask;
    }

    async Task ReportWhenDone(Task<TrialResult> run)
    {
        var result = await run; // resumes on this grain's scheduler; the trainer never throws
        var finishedAt = DateTimeOffset.UtcNow;
        _cancel?.Dispose();
        _cancel = null;
        var (assignment, slot) = (_assignment!, _slot!);
        devices.Release(slot, this.GetPrimaryKeyString());
        if (!_handingBack) await grains.GetGrain<ISiloWorkerGrain>(slot.Silo).DeviceFreed(); // one-way: the next trial in line starts now
        DelayDeactivation(TimeSpan.Zero);
        var coordinator = grains.GetGrain<ISweepCoordinatorGrain>(SweepId);
        var record = new TrialRecord(assignment.TrialId, assignment.Spec, result, slot.Silo, slot.Name, assignment.Attempt, _startedAt, finishedAt);
        _ended = new TrialProgress(assignment.TrialId, StateOf(result.Status), assignment.Attempt, slot.Silo, slot.Name,
            result.History.Count, result.FinalLoss, result.Message);
        await Retry(() => _handingBack
            ? coordinator.TrialHandedBack(assignment.TrialId, assignment.Attempt, $"silo {slot.Silo} shut down", siloLost: true)
            : coordinator.TrialEnded(record));
    }

    /// <summary>Reports must arrive; the coordinator may be moving (its silo died) for a few seconds.</summary>
    async Task Retry(Func<Task> report)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await report();
                return;
            }
            catch (Exception e) when (attempt < 10)
            {
                log.LogWarning(e, "Reporting trial {Trial} failed (attempt {Attempt}); retrying", this.GetPrimaryKeyString(), attempt);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)));
            }
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_watch is { IsCompleted: false })
        {
            // Graceful shutdown (or forced deactivation) while training: stop the trainer and hand the trial back.
            // Wait for the trainer (one step at most), not for the report: the coordinator may be placing this very
            // trial again, through a call that waits for this deactivation to end. Should the report be lost with
            // the silo, the coordinator sees the silo leave and places the trial again anyway.
            _handingBack = true;
            _cancel?.Cancel();
            await ((Task)_run!).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
    }

    internal static TrialState StateOf(TrialStatus status) => status switch
    {
        TrialStatus.Completed => TrialState.Completed,
        TrialStatus.Diverged => TrialState.Diverged,
        TrialStatus.Cancelled => TrialState.Cancelled,
        _ => TrialState.Failed,
    };
}
