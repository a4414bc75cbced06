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
/// timeout (no phase begun, its thread blocked and using no CPU: <see cref="TrainerLiveness"/>) is taken for hung: its lease is left to expire (the trial is placed again elsewhere) and its slot stays
/// held until the thread returns. When the silo stops, running trials stop at their next step and are handed back.
/// While a sweep has plenty queued, each slot also holds a few trials ready behind the one it runs (leased and begun
/// ahead, <see cref="LeaseOptions.Ahead"/>): it trains on through a coordinator's move to another silo, and asks for
/// its next trial while the current one runs. They are renewed with the rest, and handed back, uncounted, when the
/// silo stops, the slot hangs or the sweep is cancelled.
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
    sealed class Running(TrialLease lease, bool ahead = false)
    {
        public TrialLease Lease { get; } = lease;
        /// <summary>Leased ahead, to wait behind the slot's running trial; <see cref="Begun"/> once its trial grain took
        /// the attempt up.</summary>
        public bool Ahead { get; } = ahead;
        public bool Begun;
        /// <summary>Why an attempt held ready was given up while it began (see <see cref="SlotWork.Remove"/>).</summary>
        public string? DropReason;
        public CancellationTokenSource Cancel { get; } = new();
        public StepRecord? Last;
        public long Beat = Stopwatch.GetTimestamp();
        /// <summary>The operating-system id of the trial's thread once it runs (0 before, or where there is none).</summary>
        public volatile int ThreadId;
        /// <summary>Whether the trainer is alive, from its beats and its thread's samples: read by the renewal loop alone.</summary>
        public TrainerLiveness Liveness { get; } = new(Clock.At(Stopwatch.GetTimestamp()));
        /// <summary>Hung: taken for hung (handed back); Revoked: the coordinator says the lease is no longer this
        /// slot's. Either way the attempt's result is not the trial's and is not reported.</summary>
        public volatile bool Hung, HandingBack, Revoked;
    }

    /// <summary>One device slot's attempts held ready behind its running trial, in lease order, and how long its trials
    /// take. Locked: the slot takes them, its top-up adds them, renewals and the silo's stop give them up.</summary>
    sealed class SlotWork(DeviceSlot slot)
    {
        readonly LinkedList<Running> _ahead = new();
        public DeviceSlot Slot { get; } = slot;
        /// <summary>The mean length of the slot's recent trials in seconds (exponentially weighted); null before its first.</summary>
        double? _trialSeconds;
        public Task TopUp = Task.CompletedTask;
        public int Turn;

        /// <summary>How many trials to hold ready: <paramref name="ahead"/> of the slot's trials, none before one has run.</summary>
        public int Wanted(TimeSpan ahead)
        {
            lock (_ahead)
                return _trialSeconds is { } s && s > 0 ? (int)Math.Min(LeaseOptions.MaxAhead, Math.Floor(ahead.TotalSeconds / s)) : 0;
        }

        public void Took(TimeSpan length)
        {
            lock (_ahead) _trialSeconds = _trialSeconds is { } s ? 0.8 * s + 0.2 * length.TotalSeconds : length.TotalSeconds;
        }

        public int Count { get { lock (_ahead) return _ahead.Count; } }

        public void Add(Running r) { lock (_ahead) _ahead.AddLast(r); }

        public List<Running> Held() { lock (_ahead) return [.. _ahead]; }

        /// <summary>The first attempt held ready whose begin is done, taken off the list; null when none is.</summary>
        public Running? TakeNext()
        {
            lock (_ahead)
            {
                for (var n = _ahead.First; n is not null; n = n.Next)
                    if (n.Value.Begun)
                    {
                        _ahead.Remove(n);
                        return n.Value;
                    }
                return null;
            }
        }

        /// <summary>Gives <paramref name="r"/> up: true when it was still held here (the caller gives it back when
        /// <paramref name="begun"/>; otherwise its top-up does when the begin returns, for <paramref name="reason"/>).</summary>
        public bool Remove(Running r, string reason, out bool begun)
        {
            lock (_ahead)
            {
                begun = r.Begun;
                if (!_ahead.Remove(r)) return false;
                r.DropReason = reason;
                return true;
            }
        }

        public List<Running> TakeAll(string reason)
        {
            lock (_ahead)
            {
                var all = _ahead.ToList();
                _ahead.Clear();
                foreach (var r in all) r.DropReason = reason;
                return all;
            }
        }

        /// <summary>Marks <paramref name="r"/>'s begin done; false when it was given up meanwhile.</summary>
        public bool MarkBegun(Running r)
        {
            lock (_ahead)
            {
                if (!_ahead.Contains(r)) return false;
                r.Begun = true;
                return true;
            }
        }
    }

    readonly CancellationTokenSource _stopping = new();
    readonly Dictionary<int, SlotWork> _work = [];
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
        foreach (var slot in devices.Slots)
        {
            var work = _work[slot.Index] = new SlotWork(slot);
            _slotLoops[slot.Index] = Task.Run(() => SlotLoop(work));
        }
        _loops = [Task.Run(Watch), Task.Run(RenewLoop)];
        return Task.CompletedTask;
    }

    async Task Stop(CancellationToken cancellation)
    {
        _stopping.Cancel();
        foreach (var r in _running.Values) HandBack(r);
        foreach (var work in _work.Values) GiveUpAhead(work, $"silo {SiloKey} shut down");
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
                var asked = Stopwatch.GetTimestamp();
                var list = await directory.Watch(version, SiloKey, devices.Slots.Count, WatchWait).WaitAsync(_stopping.Token);
                if (list.Version == version)
                {
                    // Back early with nothing new: the directory's silo is stopping, and the directory moves.
                    if (Stopwatch.GetElapsedTime(asked) < WatchWait / 2) await Pause(IdlePoll);
                    continue;
                }
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

    async Task SlotLoop(SlotWork work)
    {
        var slot = work.Slot;
        var turn = 0;
        while (!_stopping.IsCancellationRequested)
        {
            if (work.TakeNext() is { } ready)
            {
                await RunTrial(work, ready);
                continue;
            }
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
            if (!await RunTrial(work, new Running(lease))) await Pause(RetryPoll);
        }
        // The silo stops: what is held ready goes back (the stop gave up what was there; a top-up may have added since).
        await work.TopUp;
        GiveUpAhead(work, $"silo {SiloKey} shut down");
    }

    /// <summary>Keeps <paramref name="work"/>'s slot holding <see cref="LeaseOptions.Ahead"/> of work ready, one lease
    /// and begin at a time, beside the trial it runs. Stops at the first refusal (the sweep's queue is short) or
    /// failure; the slot's next trial starts it again.</summary>
    void TopUp(SlotWork work)
    {
        if (!work.TopUp.IsCompleted || _stopping.IsCancellationRequested || work.Count >= work.Wanted(leases.Value.Ahead)) return;
        work.TopUp = Task.Run(async () =>
        {
            try
            {
                while (!_stopping.IsCancellationRequested && work.Count < work.Wanted(leases.Value.Ahead))
                {
                    if (GivingUp(work) is not null) return;
                    var (lease, _) = await NextLease(work.Slot, work.Turn++, ahead: true);
                    if (lease is null) return;
                    var held = new Running(lease, ahead: true);
                    work.Add(held); // renewed from now on, while it begins too
                    if (!await Begin(work.Slot, lease, ahead: true))
                    {
                        work.Remove(held, "", out _); // Begin told the coordinator and the trial grain
                        return;
                    }
                    // The silo began stopping, or the slot's trainer was taken for hung, while this lease was on its way:
                    // what the slot held was given up then, and this one goes the same way (a hung slot never takes it).
                    if (!work.MarkBegun(held)) Drop(held, held.DropReason ?? "it was given up");
                    else if (GivingUp(work) is { } reason && work.Remove(held, reason, out _)) Drop(held, reason);
                }
            }
            catch (Exception e)
            {
                log.LogWarning(e, "Leasing trials ahead for {Slot} failed", work.Slot.Name);
            }
        });
    }

    /// <summary>Why <paramref name="work"/>'s slot gives up what it holds ready (the silo stops, or the trainer of its
    /// running trial was taken for hung); null while it keeps it.</summary>
    string? GivingUp(SlotWork work) =>
        _stopping.IsCancellationRequested ? $"silo {SiloKey} shut down"
        : _running.TryGetValue(work.Slot.Index, out var current) && current.Hung ? $"{work.Slot.Name}'s trainer hung"
        : null;

    /// <summary>Gives back every attempt <paramref name="work"/>'s slot holds ready (those still beginning are given
    /// back by their top-up).</summary>
    void GiveUpAhead(SlotWork work, string reason)
    {
        foreach (var r in work.TakeAll(reason))
            if (r.Begun) Drop(r, reason);
    }

    /// <summary>Gives up an attempt held ready that this slot will not run, counting no lost lease: revoked, the trial
    /// grain is told (the lease is another slot's now); otherwise the coordinator places it again (or, the sweep
    /// cancelled, ends it).</summary>
    void Drop(Running r, string reason)
    {
        if (r.Revoked) Release(r.Lease, reason);
        else Report(() => Coordinator(r.Lease).HandBack(r.Lease.TrialId, r.Lease.Attempt, $"{reason}; it was held ready by {r.Lease.Slot.Name}", lost: false),
            r.Lease, "handing back");
    }

    /// <summary>A lease from the first sweep, in turn, that has a queued trial; with no lease, whether a request failed.</summary>
    async Task<(TrialLease? Lease, bool Failed)> NextLease(DeviceSlot slot, int turn, bool ahead = false)
    {
        var sweeps = _sweeps;
        var failed = false;
        for (var i = 0; i < sweeps.Count && !_stopping.IsCancellationRequested; i++)
        {
            var sweepId = sweeps[(turn + i) % sweeps.Count];
            try
            {
                if (await grains.GetGrain<ISweepCoordinatorGrain>(sweepId).Lease(slot, ahead) is { } lease) return (lease, false);
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
    async Task<bool> Begin(DeviceSlot slot, TrialLease lease, bool ahead = false)
    {
        TrialSummary? ended;
        try
        {
            ended = await grains.GetGrain<ITrialGrain>(lease.TrialKey).Begin(lease.Spec, lease.Attempt, slot, lease.Metric, ahead);
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

    /// <summary>Begins the leased attempt at its trial grain (unless it was begun ahead), runs it on the slot and reports
    /// the result; false when it could not begin. The lease is renewed from the moment it is held, while it begins too.</summary>
    async Task<bool> RunTrial(SlotWork work, Running running)
    {
        var (slot, lease) = (work.Slot, running.Lease);
        Volatile.Write(ref running.Beat, Stopwatch.GetTimestamp()); // held ready, it was not silent: it had not started
        devices.Hold(slot, lease.TrialKey);
        _running[slot.Index] = running;
        if (_stopping.IsCancellationRequested) HandBack(running); // the silo began stopping as the lease arrived
        var startedAt = DateTimeOffset.UtcNow;
        TrialResult result;
        try
        {
            if (!running.Ahead && !await Begin(slot, lease)) return false;
            TopUp(work);
            // Taken for hung or revoked while it began: the trial is placed again elsewhere; nothing to run or report.
            if (running.Hung || running.Revoked)
            {
                if (running.Revoked) Release(lease, "its lease was revoked");
                return true;
            }
            startedAt = DateTimeOffset.UtcNow;
            result = await TrialThread.Run(() =>
            {
                running.ThreadId = ThreadSampler.CurrentThreadId() ?? 0;
                devices.SetTorchThreads();
                return runner.Run(lease,
                    step => Volatile.Write(ref running.Last, step),
                    () => Volatile.Write(ref running.Beat, Stopwatch.GetTimestamp()),
                    running.Cancel.Token,
                    () => running.HandingBack);
            }, lease.TrialKey);
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
        if (!running.Hung && !running.Revoked && !running.HandingBack && result.Status != TrialStatus.Cancelled) work.Took(finishedAt - startedAt);
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
            void Renewal(Running r, int step, double? loss, TimeSpan silent, bool waiting) =>
                (renewals.TryGetValue(r.Lease.SweepId, out var list) ? list : renewals[r.Lease.SweepId] = [])
                    .Add((r, new LeaseRenewal(r.Lease.TrialId, r.Lease.Attempt, r.Lease.Slot, step, loss, silent, waiting)));
            foreach (var r in _running.Values)
            {
                if (r.Hung || r.HandingBack) continue;
                // Alive while it beats, computes (one long native operation) or waits for a core (a starved process).
                var silent = r.Liveness.Observe(Clock.At(now), Clock.At(Volatile.Read(ref r.Beat)),
                    r.ThreadId is var tid and not 0 ? ThreadSampler.Read(tid) : null);
                if (silent > r.Lease.Timeout)
                {
                    // Handed back now (the coordinator places it again at once; were this report lost, the lease expires
                    // just as well). The slot stays held until the thread returns: no device serves two leases.
                    r.Hung = true;
                    try { r.Cancel.Cancel(); } catch (ObjectDisposedException) { }
                    log.LogWarning("Trial {Trial} attempt {Attempt} on {Slot} shows no sign of life for {Seconds:0} s (no phase begun, its thread blocked and using no CPU): taken for hung and handed back; the slot stays held until its thread returns",
                        r.Lease.TrialKey, r.Lease.Attempt, r.Lease.Slot.Name, silent.TotalSeconds);
                    var lease = r.Lease;
                    Report(() => Coordinator(lease).HandBack(lease.TrialId, lease.Attempt,
                        $"its trainer on {lease.Slot.Name} of silo {lease.Slot.Silo} showed no sign of life for {silent.TotalSeconds:0} s: no phase begun, its thread blocked and using no CPU (hung)"), lease, "handing back");
                    // What the hung slot held ready runs elsewhere; nothing is counted against those trials.
                    GiveUpAhead(_work[lease.Slot.Index], $"{lease.Slot.Name}'s trainer hung");
                    continue;
                }
                var last = Volatile.Read(ref r.Last);
                Renewal(r, last?.Step ?? 0, last?.Loss, silent, waiting: false);
            }
            foreach (var r in _work.Values.SelectMany(w => w.Held())) Renewal(r, 0, null, TimeSpan.Zero, waiting: true);
            await Task.WhenAll(renewals.Select(async sweep =>
            {
                try
                {
                    var reply = await grains.GetGrain<ISweepCoordinatorGrain>(sweep.Key).Renew(SiloKey, [.. sweep.Value.Select(v => v.Renewal)]);
                    foreach (var (trial, renewal) in sweep.Value)
                    {
                        var revoked = reply.Revoked?.Contains(new LeaseAttempt(renewal.TrialId, renewal.Attempt)) == true;
                        if (renewal.Waiting && (revoked || reply.Stop.Contains(renewal.TrialId)))
                        {
                            // Held ready: given up here, unless its slot took it up since (then stopped as a running trial).
                            if (revoked) trial.Revoked = true;
                            var reason = revoked ? "its lease was revoked" : "the sweep was cancelled";
                            if (_work[trial.Lease.Slot.Index].Remove(trial, reason, out var begun))
                            {
                                if (begun) Drop(trial, reason);
                                continue;
                            }
                        }
                        if (revoked)
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

    /// <summary>Stopwatch timestamps as time since this process's first reading, for <see cref="TrainerLiveness"/>.</summary>
    static class Clock
    {
        static readonly long Origin = Stopwatch.GetTimestamp();
        public static TimeSpan At(long timestamp) => Stopwatch.GetElapsedTime(Origin, timestamp);
    }
}
