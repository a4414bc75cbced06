using System.Collections.Concurrent;
using System.Diagnostics;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Devices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Descent.Grains.Sweeps;

/// <summary>
/// One per silo: owns the silo's device slots and the trials' threads. Each free slot pulls a lease from a sweep
/// with queued trials (sweeps taken in turn, learned from <see cref="ISweepDirectoryGrain"/>), runs the trial on a
/// thread of its own, reports the result to the trial grain and then the coordinator, and asks again. Every second it
/// renews the leases of its running trials, with their last step; a trainer that shows no sign of life for a lease
/// timeout is taken for hung: its lease is left to expire (the trial is placed again elsewhere) and its slot stays
/// held until the thread returns. When the silo stops, running trials stop at their next step and are handed back.
/// Not a grain: it calls grains and is called by none, so it cannot take part in a call cycle.
/// </summary>
public sealed class DeviceWorker(
    DeviceInventory devices,
    ILocalSiloDetails silo,
    IGrainFactory grains,
    ITrialRunner runner,
    IOptions<LeaseOptions> leases,
    ILogger<DeviceWorker> log) : ILifecycleParticipant<ISiloLifecycle>
{
    static readonly TimeSpan WatchWait = TimeSpan.FromSeconds(10);
    static readonly TimeSpan IdlePoll = TimeSpan.FromSeconds(1);
    /// <summary>How soon a slot asks again after a lease request or a trial's begin failed (a silo of the cluster just
    /// died, the coordinator is moving): soon, since the others' work waits for nothing else.</summary>
    static readonly TimeSpan RetryPoll = TimeSpan.FromMilliseconds(200);
    const int ReportAttempts = 10;

    /// <summary>A trial on a slot: its lease, its trainer's last step and last sign of life.</summary>
    sealed class Running(TrialLease lease)
    {
        public TrialLease Lease { get; } = lease;
        public CancellationTokenSource Cancel { get; } = new();
        public StepRecord? Last;
        public long Beat = Stopwatch.GetTimestamp();
        /// <summary>Hung: taken for hung (handed back); Revoked: the coordinator says the lease is no longer this
        /// slot's. Either way the attempt's result is not the trial's and is not reported.</summary>
        public volatile bool Hung, HandingBack, Revoked;
    }

    readonly CancellationTokenSource _stopping = new();
    readonly ConcurrentDictionary<int, Running> _running = new();
    readonly ConcurrentDictionary<Task, bool> _reports = new();
    volatile IReadOnlyList<string> _sweeps = [];
    volatile TaskCompletionSource _sweepsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    volatile TaskCompletionSource _renewNow = new(TaskCreationOptions.RunContinuationsAsynchronously);
    Task[] _loops = [];
    readonly Dictionary<int, Task> _slotLoops = [];

    string SiloKey => silo.SiloAddress.ToParsableString();

    public void Participate(ISiloLifecycle lifecycle) =>
        // Active: grain calls work; on the way down this stage stops first, while grains still answer.
        lifecycle.Subscribe(nameof(DeviceWorker), ServiceLifecycleStage.Active, Start, Stop);

    Task Start(CancellationToken cancellation)
    {
        foreach (var slot in devices.Slots) _slotLoops[slot.Index] = Task.Run(() => SlotLoop(slot));
        _loops = [Task.Run(Watch), Task.Run(RenewLoop)];
        return Task.CompletedTask;
    }

    async Task Stop(CancellationToken cancellation)
    {
        _stopping.Cancel();
        foreach (var r in _running.Values) HandBack(r);
        try
        {
            await grains.GetGrain<ISweepDirectoryGrain>(ISweepDirectoryGrain.Key).Leave(SiloKey).WaitAsync(TimeSpan.FromSeconds(5), cancellation);
        }
        catch (Exception e)
        {
            log.LogDebug(e, "Leaving the sweep directory failed");
        }
        try
        {
            // Running trials stop at their next step and are handed back; reports in flight get to finish. A slot whose
            // trainer is hung is not waited for: its trial was handed back when it fell silent, and the process exit
            // ends its thread (RunningTrainers).
            var slots = _slotLoops.Where(l => !(_running.TryGetValue(l.Key, out var r) && r.Hung)).Select(l => l.Value);
            await Task.WhenAll([.. _loops, .. slots]).WaitAsync(cancellation);
            await Task.WhenAll(_reports.Keys).WaitAsync(cancellation);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            log.LogWarning("Silo {Silo} stopped before its trials were handed back; their leases will expire", SiloKey);
        }
    }

    /// <summary>Follows the list of active sweeps (a long poll: a new sweep arrives at once).</summary>
    async Task Watch()
    {
        var version = 0;
        var directory = grains.GetGrain<ISweepDirectoryGrain>(ISweepDirectoryGrain.Key);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var list = await directory.Watch(version, SiloKey, devices.Slots.Count, WatchWait).WaitAsync(_stopping.Token);
                if (list.Version == version) continue;
                (version, _sweeps) = (list.Version, list.Sweeps);
                var changed = _sweepsChanged;
                _sweepsChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                changed.SetResult();
                _renewNow.TrySetResult(); // a sweep left (cancelled, done): renew now, so its trials learn at once
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { }
            catch (Exception e)
            {
                log.LogDebug(e, "Watching the sweep directory failed; trying again");
                await Pause(IdlePoll);
            }
        }
    }

    async Task SlotLoop(DeviceSlot slot)
    {
        var turn = 0;
        while (!_stopping.IsCancellationRequested)
        {
            var changed = _sweepsChanged.Task;
            var (lease, failed) = await NextLease(slot, turn++);
            if (lease is null)
            {
                await Task.WhenAny(changed, Pause(failed ? RetryPoll : IdlePoll));
                continue;
            }
            if (_stopping.IsCancellationRequested)
            {
                Report(() => Coordinator(lease).Unclaimed(lease.TrialId, lease.Attempt, slot, null, $"silo {SiloKey} shut down"), lease, "handing back");
                break;
            }
            if (!await RunTrial(slot, lease)) await Pause(RetryPoll);
        }
    }

    /// <summary>A lease from the first sweep, in turn, that has a queued trial; with no lease, whether a request failed.</summary>
    async Task<(TrialLease? Lease, bool Failed)> NextLease(DeviceSlot slot, int turn)
    {
        var sweeps = _sweeps;
        var failed = false;
        for (var i = 0; i < sweeps.Count && !_stopping.IsCancellationRequested; i++)
        {
            var sweepId = sweeps[(turn + i) % sweeps.Count];
            try
            {
                if (await grains.GetGrain<ISweepCoordinatorGrain>(sweepId).Lease(slot) is { } lease) return (lease, false);
            }
            catch (Exception e)
            {
                failed = true;
                log.LogDebug(e, "Asking sweep {Sweep} for work failed", sweepId);
            }
        }
        return (null, failed);
    }

    /// <summary>Takes a lease up at its trial grain (<see cref="ITrialGrain.Begin"/>): true when the attempt begins. When
    /// the trial had already ended, or the grain cannot be reached, the coordinator is told (<see cref="ISweepCoordinatorGrain.Unclaimed"/>)
    /// and the slot asks for other work.</summary>
    async Task<bool> Begin(DeviceSlot slot, TrialLease lease)
    {
        TrialSummary? ended;
        try
        {
            ended = await grains.GetGrain<ITrialGrain>(lease.TrialKey).Begin(lease.Spec, lease.Attempt, slot, lease.Metric);
            if (ended is null) return true;
        }
        catch (Exception e)
        {
            log.LogDebug(e, "Beginning trial {Trial} attempt {Attempt} failed", lease.TrialKey, lease.Attempt);
            var reason = $"beginning it failed: {e.GetType().Name}";
            // The begin may have been done with only its reply lost: the trial grain is told too, or it would say this
            // slot runs the attempt, and a coordinator rebuilt from it before the trial's next lease would count a lost lease.
            Release(lease, reason);
            Report(() => Coordinator(lease).Unclaimed(lease.TrialId, lease.Attempt, slot, null, reason), lease, "handing back");
            return false;
        }
        Report(() => Coordinator(lease).Unclaimed(lease.TrialId, lease.Attempt, slot, ended, "it had already ended"), lease, "handing back");
        return false;
    }

    /// <summary>Begins the leased attempt at its trial grain, runs it on the slot and reports the result; false when it
    /// could not begin. The lease is renewed from the moment it is held, while it begins too.</summary>
    async Task<bool> RunTrial(DeviceSlot slot, TrialLease lease)
    {
        var running = new Running(lease);
        devices.Hold(slot, lease.TrialKey);
        _running[slot.Index] = running;
        if (_stopping.IsCancellationRequested) HandBack(running); // the silo began stopping as the lease arrived
        var startedAt = DateTimeOffset.UtcNow;
        TrialResult result;
        try
        {
            if (!await Begin(slot, lease)) return false;
            // Taken for hung or revoked while it began: the trial is placed again elsewhere; nothing to run or report.
            if (running.Hung || running.Revoked)
            {
                if (running.Revoked) Release(lease, "its lease was revoked");
                return true;
            }
            startedAt = DateTimeOffset.UtcNow;
            result = await TrialThread.Run(() => runner.Run(lease,
                step => Volatile.Write(ref running.Last, step),
                () => Volatile.Write(ref running.Beat, Stopwatch.GetTimestamp()),
                running.Cancel.Token,
                () => running.HandingBack), lease.TrialKey);
        }
        catch (Exception e)
        {
            result = new TrialResult(TrialStatus.Failed, $"the trial's runner failed: {e.Message}", double.NaN, double.NaN, 0, 0, 0, 0, 0, 0, []);
        }
        finally
        {
            _running.TryRemove(slot.Index, out _);
            devices.Release(slot, lease.TrialKey);
            running.Cancel.Dispose();
        }
        var finishedAt = DateTimeOffset.UtcNow;
        // Taken for hung, this attempt was handed back when its trainer fell silent: whatever it returns now (cancelled,
        // or a late result) is not the trial's result.
        if (running.Hung || running.Revoked)
        {
            if (running.Revoked) Release(lease, "its lease was revoked");
            return true;
        }
        if (running.HandingBack)
        {
            // Scaling in is not the trial's fault: no lost lease is counted against its retries.
            Report(() => Coordinator(lease).HandBack(lease.TrialId, lease.Attempt, $"silo {SiloKey} shut down", lost: false), lease, "handing back");
            return true;
        }
        var record = new TrialRecord(lease.TrialId, lease.Spec, result, slot.Silo, slot.Name, lease.Attempt, startedAt, finishedAt);
        // Reported while this slot already asks for its next trial: the device does not wait for the writes.
        Report(async () =>
        {
            if (await grains.GetGrain<ITrialGrain>(lease.TrialKey).Finish(record))
                await Coordinator(lease).Ended(TrialSummary.Of(record, lease.Metric));
        }, lease, "reporting the result of");
        return true;
    }

    /// <summary>Renews every running trial's lease once a second (and at once when the list of sweeps changes), a call
    /// per sweep, and stops the trials the coordinators name. A trainer silent for a lease timeout is taken for hung
    /// and no longer renewed.</summary>
    async Task RenewLoop()
    {
        var every = leases.Value.RenewEvery;
        while (!_stopping.IsCancellationRequested)
        {
            await Task.WhenAny(Pause(every), _renewNow.Task);
            _renewNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var now = Stopwatch.GetTimestamp();
            var renewals = new Dictionary<string, List<(Running Trial, LeaseRenewal Renewal)>>();
            foreach (var r in _running.Values)
            {
                if (r.Hung || r.HandingBack) continue;
                var silent = Stopwatch.GetElapsedTime(Volatile.Read(ref r.Beat), now);
                if (silent > r.Lease.Timeout)
                {
                    // Handed back now (the coordinator places it again at once; were this report lost, the lease expires
                    // just as well). The slot stays held until the thread returns: no device serves two leases.
                    r.Hung = true;
                    try { r.Cancel.Cancel(); } catch (ObjectDisposedException) { }
                    log.LogWarning("Trial {Trial} attempt {Attempt} on {Slot} shows no sign of life for {Seconds:0} s: taken for hung and handed back; the slot stays held until its thread returns",
                        r.Lease.TrialKey, r.Lease.Attempt, r.Lease.Slot.Name, silent.TotalSeconds);
                    var lease = r.Lease;
                    Report(() => Coordinator(lease).HandBack(lease.TrialId, lease.Attempt,
                        $"its trainer on {lease.Slot.Name} of silo {lease.Slot.Silo} showed no sign of life for {silent.TotalSeconds:0} s (hung)"), lease, "handing back");
                    continue;
                }
                var last = Volatile.Read(ref r.Last);
                (renewals.TryGetValue(r.Lease.SweepId, out var list) ? list : renewals[r.Lease.SweepId] = [])
                    .Add((r, new LeaseRenewal(r.Lease.TrialId, r.Lease.Attempt, r.Lease.Slot, last?.Step ?? 0, last?.Loss, silent)));
            }
            await Task.WhenAll(renewals.Select(async sweep =>
            {
                try
                {
                    var reply = await grains.GetGrain<ISweepCoordinatorGrain>(sweep.Key).Renew(SiloKey, [.. sweep.Value.Select(v => v.Renewal)]);
                    foreach (var (trial, renewal) in sweep.Value)
                    {
                        if (reply.Revoked?.Contains(renewal.TrialId) == true)
                        {
                            trial.Revoked = true;
                            log.LogInformation("Trial {Trial} attempt {Attempt} on {Slot}: the lease is no longer this slot's; stopped, its result not reported",
                                trial.Lease.TrialKey, trial.Lease.Attempt, trial.Lease.Slot.Name);
                        }
                        else if (!reply.Stop.Contains(renewal.TrialId)) continue;
                        try { trial.Cancel.Cancel(); } catch (ObjectDisposedException) { }
                    }
                }
                catch (Exception e)
                {
                    log.LogDebug(e, "Renewing the leases of sweep {Sweep} failed; trying again", sweep.Key);
                }
            }));
        }
    }

    static void HandBack(Running r)
    {
        r.HandingBack = true;
        try { r.Cancel.Cancel(); } catch (ObjectDisposedException) { }
    }

    /// <summary>Tells the trial grain that this slot does not run <paramref name="lease"/>'s attempt (a no-op unless the
    /// grain runs that very attempt on this slot), without counting a lost lease: a coordinator rebuilt from the grain must not
    /// wait for renewals nobody sends and then count the trial's lease lost.</summary>
    void Release(TrialLease lease, string reason) =>
        Report(() => grains.GetGrain<ITrialGrain>(lease.TrialKey).Release(lease.Attempt, lease.Slot, $"{reason}; not run by {lease.Slot.Name} of silo {lease.Slot.Silo}"),
            lease, "releasing");

    ISweepCoordinatorGrain Coordinator(TrialLease lease) => grains.GetGrain<ISweepCoordinatorGrain>(lease.SweepId);

    /// <summary>Sends a report, retrying while the receiver moves (its silo died); tracked so that a stopping silo
    /// lets it finish. A report that never arrives is covered by the lease expiring.</summary>
    void Report(Func<Task> send, TrialLease lease, string what)
    {
        var task = Task.Run(async () =>
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await send();
                    return;
                }
                catch (Exception e) when (attempt < ReportAttempts)
                {
                    log.LogWarning(e, "{What} trial {Trial} attempt {Attempt} failed (try {Try}); retrying", what, lease.TrialKey, lease.Attempt, attempt);
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)));
                }
                catch (Exception e)
                {
                    log.LogWarning(e, "{What} trial {Trial} attempt {Attempt} failed; its lease will expire", what, lease.TrialKey, lease.Attempt);
                    return;
                }
            }
        });
        _reports[task] = true;
        task.ContinueWith(t => _reports.TryRemove(t, out _), TaskScheduler.Default);
    }

    async Task Pause(TimeSpan delay)
    {
        try { await Task.Delay(delay, _stopping.Token); }
        catch (OperationCanceledException) { }
    }
}
