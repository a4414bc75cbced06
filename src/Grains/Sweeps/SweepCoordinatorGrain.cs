using System.Diagnostics;
using Descent.Contracts;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Descent.Grains.Sweeps;

/// <summary>A sweep as submitted: written once, when it starts.</summary>
[GenerateSerializer, Alias("descent.sweep-definition")]
public sealed class SweepDefinition
{
    [Id(0)] public SweepSpec? Spec { get; set; }
    /// <summary>The client's sweep span (W3C trace context), parent of every trial span.</summary>
    [Id(1)] public string? TraceParent { get; set; }
}

/// <summary>A sweep's own lifecycle: written when it starts, is cancelled and ends, never per trial.</summary>
[GenerateSerializer, Alias("descent.sweep-state")]
public sealed class SweepState
{
    [Id(0)] public SweepStatus Status { get; set; } = SweepStatus.Queued;
    [Id(1)] public DateTimeOffset? StartedAt { get; set; }
    [Id(2)] public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>
/// One sweep's coordinator (see <see cref="ISweepCoordinatorGrain"/>). What it keeps in memory (the queue, the lease
/// table, counts, the summaries of ended trials) is a view over the trial grains and is rebuilt from them when the
/// coordinator is activated again; what it writes (<see cref="SweepDefinition"/> once, <see cref="SweepState"/> at
/// start, cancel and end) does not grow with the sweep's progress. Device workers pull leases from it; nothing here
/// calls a worker, and the trial grains call nothing, so no call cycle can deadlock. A timer checks leases every
/// second while the sweep runs, and a reminder reactivates an unfinished sweep whose silo was lost.
/// </summary>
public sealed class SweepCoordinatorGrain(
    [PersistentState("definition", SweepStorage.Name)] IPersistentState<SweepDefinition> definition,
    [PersistentState("sweep", SweepStorage.Name)] IPersistentState<SweepState> state,
    IClusterMembershipService membership,
    IGrainFactory grains,
    IOptions<LeaseOptions> leases,
    ILogger<SweepCoordinatorGrain> log) : Grain, ISweepCoordinatorGrain, IRemindable
{
    const string ReminderName = "keep-moving";
    static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    static readonly TimeSpan ReminderPeriod = TimeSpan.FromMinutes(1);
    static readonly TimeSpan DevicesFor = TimeSpan.FromSeconds(5);
    static readonly TimeSpan ListAgain = TimeSpan.FromSeconds(10);
    const int ReadConcurrency = 256;

    /// <summary>One trial as the coordinator sees it.</summary>
    sealed class Entry(string id, int index)
    {
        public string Id { get; } = id;
        public int Index { get; } = index;
        public TrialStatus Status = TrialStatus.Queued;
        public int Attempt;
        public DeviceSlot? Slot;
        public DateTime Expires;
        public int Step;
        public double? Loss;
        public TrialSummary? Summary;
        /// <summary>Leased ahead and not started: its slot is busy with another trial. Losing it is not a lost lease.</summary>
        public bool Waiting;
        /// <summary>When it was leased, in this activation's order (a slot starts what it holds ready in that order).</summary>
        public long Leased;
        /// <summary>When it was leased (or, rebuilt, found running).</summary>
        public DateTime LeasedAt;
        /// <summary>When it was last known held ready: leased ahead, or renewed as waiting.</summary>
        public DateTime HeldSeen;
    }

    readonly List<Entry> _trials = [];
    readonly Dictionary<string, Entry> _byId = [];
    readonly Queue<Entry> _queue = new();
    /// <summary>Trials whose lease was lost (a silo died, a trainer hung): leased before <see cref="_queue"/>, since
    /// they have waited longest.</summary>
    readonly Queue<Entry> _again = new();
    readonly HashSet<Entry> _running = [];
    /// <summary>When a trial of this sweep last left each slot (ended, handed back, expired): what tells a slot that
    /// took up the trial it held ready from one that holds it behind another sweep's.</summary>
    readonly Dictionary<DeviceSlot, DateTime> _freed = [];
    readonly List<TrialSummary> _ended = [];
    readonly int[] _counts = new int[Enum.GetValues<TrialStatus>().Length];
    /// <summary>This activation's numbering of <see cref="_ended"/> (a rebuilt view lists the trials in another order).</summary>
    readonly int _epoch = Random.Shared.Next(1, int.MaxValue);
    IGrainTimer? _timer;
    long _leaseCount;
    bool _settled;
    DateTime _listedAt = DateTime.MinValue;
    (int Devices, DateTime At)? _devices;
    DateTime? _tickEnded;

    string Id => this.GetPrimaryKeyString();
    SweepSpec Spec => definition.State.Spec!;
    TimeSpan LeaseTimeout => leases.Value.Timeout;
    ITrialGrain Trial(Entry t) => grains.GetGrain<ITrialGrain>(TrialKeys.Of(Id, t.Id));
    ISweepDirectoryGrain Directory => grains.GetGrain<ISweepDirectoryGrain>(ISweepDirectoryGrain.Key);

    /// <summary>While the sweep runs, or a cancelled sweep still has trials holding leases.</summary>
    bool Following => state.State.Status == SweepStatus.Running || (state.State.Status == SweepStatus.Cancelled && _running.Count > 0);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (definition.State.Spec is null) return;
        await Rebuild();
        // Leases held by silos that are not members (dead, or the previous process of an embedded silo whose store
        // this is) cannot be renewed: their trials are placed again now rather than a lease timeout later.
        foreach (var t in _running.ToList())
            if (t.Slot is { } slot && !Member(slot.Silo))
                await Expire(t, $"its lease was held by silo {slot.Silo}, which is no longer in the cluster");
        if (Following) StartTimer();
        else await Settle();
    }

    public async Task<SweepSnapshot> Start(SweepSpec spec, string? traceParent = null)
    {
        if (definition.State.Spec is { } existing)
        {
            if (!SameSweep(existing, spec))
                throw new ArgumentException($"sweep id \"{Id}\" is already used by another sweep (\"{existing.Name}\")");
            return await GetSnapshot();
        }
        var problems = spec.Problems();
        if (problems.Count > 0) throw new SpecException(problems);

        definition.State.Spec = spec;
        definition.State.TraceParent = traceParent ?? DescentTelemetry.TraceParent(Activity.Current);
        await definition.WriteStateAsync();
        (state.State.Status, state.State.StartedAt) = (SweepStatus.Running, DateTimeOffset.UtcNow);
        await state.WriteStateAsync();
        Plan();
        foreach (var t in _trials) _queue.Enqueue(t);
        await Directory.Add(Id);
        _listedAt = DateTime.UtcNow;
        try
        {
            await this.RegisterOrUpdateReminder(ReminderName, ReminderPeriod, ReminderPeriod);
        }
        catch (Exception e)
        {
            // The workers' lease requests wake the sweep too; the reminder covers a cluster whose devices are all busy.
            log.LogWarning(e, "Sweep {Sweep}: registering its reminder failed", Id);
        }
        StartTimer();
        return await GetSnapshot();
    }

    public async Task<SweepSnapshot> GetSnapshot()
    {
        var running = Started().Select(t => new TrialProgress(t.Id, t.Attempt, t.Slot?.Silo ?? "", t.Slot?.Name ?? "", t.Step, t.Loss))
            .OrderBy(p => p.TrialId, StringComparer.Ordinal).ToList();
        // A trial leased ahead waits for its device like a queued one, and is counted with them.
        var counts = _counts.ToArray();
        var waiting = _running.Count - running.Count;
        (counts[(int)TrialStatus.Running], counts[(int)TrialStatus.Queued]) = (counts[(int)TrialStatus.Running] - waiting, counts[(int)TrialStatus.Queued] + waiting);
        return new SweepSnapshot(Id, definition.State.Spec?.Name ?? "", DefinitionLost ? SweepStatus.Failed : state.State.Status, state.State.StartedAt, state.State.FinishedAt,
            _trials.Count, counts, running, _ended.Count, await ClusterDevices(), Message, _epoch);
    }

    /// <summary>The trials running on their devices, at most one per slot: the last leased of those whose renewal said
    /// it runs or, on a slot none of whose trials did, the first leased once a trial of this sweep left that slot since
    /// it was last renewed as held ready (renewals come every second; a slot starts what it holds ready in lease order
    /// the moment its running trial ends, so a short trial would otherwise show as queued). Without such an end it waits
    /// behind another sweep's trial, and is queued.</summary>
    IEnumerable<Entry> Started() => _running.GroupBy(t => t.Slot).SelectMany(slot => slot.Key is null
        ? slot.Where(t => !t.Waiting)
        : StartedOn(slot.Key, slot));

    IEnumerable<Entry> StartedOn(DeviceSlot slot, IEnumerable<Entry> leased)
    {
        if (leased.Any(t => !t.Waiting))
        {
            yield return leased.Where(t => !t.Waiting).MaxBy(t => t.Leased)!;
            yield break;
        }
        var next = leased.MinBy(t => t.Leased)!;
        if (_freed.TryGetValue(slot, out var freed) && freed > next.HeldSeen) yield return next;
    }

    public Task<SweepSpec?> GetSpec() => Task.FromResult(definition.State.Spec);

    /// <summary>The sweep's own state survived but its definition did not (storage that lost part of its data with a
    /// silo, such as Orleans' in-memory storage): nothing can run, and followers are told so.</summary>
    bool DefinitionLost => definition.State.Spec is null && state.RecordExists;

    string? Message => DefinitionLost
        ? "the cluster lost this sweep's definition with a silo (its grain storage does not survive a silo: use durable storage)"
        : definition.State.Spec is null && !state.RecordExists && ServiceProvider.GetService(typeof(SweepStorageInfo)) is SweepStorageInfo storage
            ? storage.NothingOf(Id)
            : null;

    public async Task<SweepSnapshot> Cancel()
    {
        if (state.State.Status is SweepStatus.Running or SweepStatus.Queued)
        {
            (state.State.Status, state.State.FinishedAt) = (SweepStatus.Cancelled, DateTimeOffset.UtcNow);
            await state.WriteStateAsync();
            // Queued trials are cancelled in this view only: a trial without an end in a cancelled sweep is cancelled,
            // which a rebuilt view derives the same way (no write per trial). Running ones stop at their next renewal.
            foreach (var t in _trials.Where(t => t.Status == TrialStatus.Queued)) CancelQueued(t);
            _queue.Clear();
            _again.Clear();
            try
            {
                // Leaving the directory wakes every worker's watch, and a woken worker renews at once: its running
                // trials of this sweep hear "stop" now rather than at their next renewal.
                await Directory.Remove(Id);
            }
            catch (Exception e)
            {
                log.LogDebug(e, "Sweep {Sweep}: leaving the directory failed; its trials stop at their next renewal", Id);
            }
            await Settle();
        }
        return await GetSnapshot();
    }

    public Task<EndedPage> GetEnded(int from, int max) =>
        Task.FromResult(new EndedPage(_epoch, [.. _ended.Skip(Math.Max(0, from)).Take(Math.Max(0, max))]));

    public async Task<Leaderboard> GetTable(RankMetric? metric = null)
    {
        var own = definition.State.Spec?.Metric ?? new RankMetric();
        if (metric is null || metric == own) return Leaderboard.Rank(own, _ended.Where(s => s.HasRecord));
        return Leaderboard.Rank(metric, await GetResults()); // another metric needs the histories
    }

    public async Task<IReadOnlyList<TrialRecord>> GetResults()
    {
        var ids = _ended.Where(s => s.HasRecord).Select(s => s.TrialId).Order(StringComparer.Ordinal).ToList();
        var results = new List<TrialRecord>(ids.Count);
        foreach (var batch in ids.Chunk(ReadConcurrency))
        {
            var records = await Task.WhenAll(batch.Select(id => grains.GetGrain<ITrialGrain>(TrialKeys.Of(Id, id)).GetRecord()));
            results.AddRange(records.OfType<TrialRecord>());
        }
        return results;
    }

    public async Task<TrialLease?> Lease(DeviceSlot slot, bool ahead = false)
    {
        if (definition.State.Spec is null || state.State.Status != SweepStatus.Running) return null;
        // A silo the cluster declared dead may still ask (woken from a freeze, before it learns and stops): a lease
        // would be expired at the next tick and counted lost, and lost trials lead the queue, so the same trial
        // would be cut again at each of its requests until its retries ran out.
        if (Dead(slot.Silo)) return null;
        // Ahead only while every slot at work could take one more and still leave a queued trial for a device that
        // asks next: a sweep's tail is never held ready on a busy device while another device idles.
        // A slot that holds none of its trials (busy with another sweep's) may still hold one: sweeps are taken in turn,
        // and a slot holding trials ready asks for nothing else, so a sweep with few trials would otherwise wait for
        // every other sweep's queue to run short.
        if (ahead && _counts[(int)TrialStatus.Queued] <= Math.Max(_devices?.Devices ?? 0, _running.Select(t => t.Slot).Distinct().Count())
            && _running.Any(t => t.Slot == slot))
            return null;
        while (_again.TryDequeue(out var t) || _queue.TryDequeue(out t))
        {
            if (t.Status != TrialStatus.Queued) continue;
            return Grant(t, slot, ahead);
        }
        // Nothing is queued and this device idles (it just joined, or the sweep's tail is held ready elsewhere): it takes
        // a trial that another slot holds ready behind more of them, or has held for longer than it meant to (the trial
        // that slot runs is far longer than those it measured, or is of another sweep). That slot's lease is revoked at
        // its next renewal (had it just started the trial, its attempt is stopped and its result, an older attempt's,
        // ignored).
        if (!ahead && HeldReady(slot) is { } held)
        {
            log.LogInformation("Trial {Trial} attempt {Attempt}, held ready by {Holder} of silo {HolderSilo}, goes to idle {Slot} of silo {Silo}",
                held.Id, held.Attempt, held.Slot?.Name, held.Slot?.Silo, slot.Name, slot.Silo);
            return Grant(held, slot, ahead: false);
        }
        await Settle();
        return null;
    }

    /// <summary>Leases <paramref name="t"/>'s next attempt to <paramref name="slot"/>. No call to the trial grain in this
    /// turn: the worker begins the attempt there (ITrialGrain.Begin). Were it on a silo that just died, only that worker
    /// would wait, not every lease request behind this grain's turn.</summary>
    TrialLease Grant(Entry t, DeviceSlot slot, bool ahead)
    {
        var attempt = t.Attempt + 1;
        t.Attempt = attempt;
        if (t.Status != TrialStatus.Running) Set(t, TrialStatus.Running);
        var now = DateTime.UtcNow;
        (t.Slot, t.Expires, t.Step, t.Loss, t.Waiting, t.Leased, t.LeasedAt, t.HeldSeen) = (slot, now + LeaseTimeout, 0, null, ahead, ++_leaseCount, now, now);
        _running.Add(t);
        return new TrialLease(Id, t.Id, attempt, Spec.Trials[t.Index], slot, Spec.Metric, LeaseTimeout, definition.State.TraceParent);
    }

    /// <summary>A trial held ready on a slot other than <paramref name="idle"/> and not taken for started
    /// (<see cref="Started"/>), for an idle device to take: of the slot holding the most, the one it would run last, when
    /// that slot holds another ahead of it (so it starts that one first, and learns of the revocation at its next renewal,
    /// within a second) or has held it for longer than twice <see cref="LeaseOptions.Ahead"/> (a slot holds that much
    /// work behind the trial it runs, so what it holds starts within about twice that); null when there is none.</summary>
    Entry? HeldReady(DeviceSlot idle)
    {
        var since = DateTime.UtcNow - 2 * leases.Value.Ahead;
        var started = Started().ToHashSet();
        var holders = _running.Where(t => t.Waiting && t.Slot is { } slot && slot != idle && !started.Contains(t))
            .GroupBy(t => t.Slot)
            .Select(held => (Count: held.Count(), Last: held.MaxBy(t => t.Leased)!))
            .Where(held => held.Count >= 2 || held.Last.LeasedAt < since)
            .ToList();
        return holders.Count == 0 ? null : holders.MaxBy(held => held.Count).Last;
    }

    public async Task Unclaimed(string trialId, int attempt, DeviceSlot slot, TrialSummary? ended, string reason)
    {
        if (!_byId.TryGetValue(trialId, out var t) || t.Status != TrialStatus.Running || t.Attempt != attempt || t.Slot != slot) return;
        Leave(t, ran: false);
        t.Slot = null;
        if (ended is not null) RecordEnd(t, ended); // it had ended before (a view rebuilt from an older state)
        else
        {
            // The attempt number stays used, so the trial's next attempt is newer either way. Last in the queue: its
            // grain may be on a silo not yet declared dead, and the other trials can run meanwhile.
            log.LogInformation("Trial {Trial} attempt {Attempt} was not taken up by {Slot} of silo {Silo}: {Reason}; queued again",
                trialId, attempt, slot.Name, slot.Silo, reason);
            if (state.State.Status == SweepStatus.Running)
            {
                Set(t, TrialStatus.Queued);
                _queue.Enqueue(t);
            }
            else CancelQueued(t);
        }
        await Settle();
    }

    public Task<RenewReply> Renew(string silo, IReadOnlyList<LeaseRenewal> renewals)
    {
        var stop = new List<string>();
        var revoked = new List<LeaseAttempt>();
        var now = DateTime.UtcNow;
        foreach (var r in renewals)
        {
            if (_byId.TryGetValue(r.TrialId, out var t) && Newer(t, r.Attempt) && r.Slot.Silo == silo) Adopt(t, r.Attempt, r.Slot);
            if (t is not null && t.Status == TrialStatus.Running && t.Attempt == r.Attempt
                && r.Slot.Silo == silo && (t.Slot is null || t.Slot == r.Slot))
            {
                // The lease runs from the trainer's last sign of life, not from this call.
                var expires = now - (r.Silent > TimeSpan.Zero ? r.Silent : TimeSpan.Zero) + LeaseTimeout;
                (t.Slot, t.Expires, t.Step, t.Loss, t.Waiting) = (r.Slot, expires > t.Expires ? expires : t.Expires, r.Step, r.Loss, r.Waiting);
                if (r.Waiting) t.HeldSeen = now;
                if (state.State.Status == SweepStatus.Cancelled) stop.Add(r.TrialId);
            }
            else revoked.Add(new LeaseAttempt(r.TrialId, r.Attempt));
        }
        return Task.FromResult(new RenewReply(stop, revoked));
    }

    /// <summary>An attempt of <paramref name="t"/> newer than this view knows, while the trial has not ended here: a
    /// previous activation of this coordinator leased it, and this one was rebuilt from trial grains read before the
    /// attempt began there (attempts are leased here only, so a worker holds no other).</summary>
    static bool Newer(Entry t, int attempt) => attempt > t.Attempt && t.Status is TrialStatus.Running or TrialStatus.Queued;

    /// <summary>Takes <paramref name="attempt"/> on <paramref name="slot"/> as <paramref name="t"/>'s lease (see <see cref="Newer"/>).
    /// Without it, the rebuilt view revoked that attempt and then waited a lease timeout for one nobody held.</summary>
    void Adopt(Entry t, int attempt, DeviceSlot slot)
    {
        log.LogInformation("Trial {Trial} attempt {Attempt} on {Slot} of silo {Silo}: leased by a previous activation of this coordinator; taken as its lease",
            t.Id, attempt, slot.Name, slot.Silo);
        if (t.Status != TrialStatus.Running) Set(t, TrialStatus.Running);
        var now = DateTime.UtcNow;
        (t.Attempt, t.Slot, t.Expires, t.Leased, t.LeasedAt) = (attempt, slot, now + LeaseTimeout, ++_leaseCount, now);
        _running.Add(t);
    }

    public async Task Ended(TrialSummary summary)
    {
        if (_byId.TryGetValue(summary.TrialId, out var newer) && Newer(newer, summary.Attempt))
        {
            // Its trial grain took this end as the trial's (workers report here only then): the trial ended.
            Leave(newer, ran: false);
            newer.Attempt = summary.Attempt;
            RecordEnd(newer, summary);
            await Settle();
            return;
        }
        if (!_byId.TryGetValue(summary.TrialId, out var t) || t.Status != TrialStatus.Running || t.Attempt != summary.Attempt)
        {
            log.LogInformation("Ignoring the end of trial {Trial} attempt {Attempt}: not its current lease", summary.TrialId, summary.Attempt);
            return;
        }
        Leave(t, ran: true); // held ready until just now, perhaps (a short trial ends before its renewal says it runs)
        RecordEnd(t, summary);
        await Settle();
    }

    public async Task HandBack(string trialId, int attempt, string reason, bool lost = true)
    {
        if (_byId.TryGetValue(trialId, out var t) && t.Status == TrialStatus.Running && t.Attempt == attempt)
            await Expire(t, reason, lost);
        await Settle();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // Being called activated this grain (rebuilt from its trials); keep it moving, or stop reminding.
        if (Following) StartTimer();
        return Settle();
    }

    /// <summary>Every second while following: expire leases not renewed in time (or held by a silo declared dead),
    /// and notice the end.</summary>
    async Task OnTick()
    {
        var now = DateTime.UtcNow;
        // A tick that comes late after the last one ended (this silo paused, or starved of cores): renewals sent
        // meanwhile wait behind it. Counted from the last tick's end: while a tick awaits, renewals queue behind it and
        // are taken before the next one, so a slow tick is no reason for grace.
        var grace = _tickEnded is { } last ? LeaseOptions.Grace(now - last, Tick) : TimeSpan.Zero;
        try
        {
            await Check(now, grace);
        }
        finally
        {
            _tickEnded = DateTime.UtcNow;
        }
    }

    /// <summary>One tick's work: leases first given <paramref name="grace"/> (<see cref="LeaseOptions.Grace"/>), then
    /// the directory, expiry and the end.</summary>
    async Task Check(DateTime now, TimeSpan grace)
    {
        if (grace > TimeSpan.Zero)
        {
            log.LogWarning("Sweep {Sweep}: the lease check ran {Seconds:0.0} s late; leases get that much longer", Id, grace.TotalSeconds);
            foreach (var t in _running) t.Expires += grace;
        }
        // The directory is how workers find this sweep; should it have lost its state (storage that did not survive
        // a silo), the sweep registers again while it has trials waiting.
        if (state.State.Status == SweepStatus.Running && _counts[(int)TrialStatus.Queued] > 0 && now - _listedAt > ListAgain)
        {
            try
            {
                await Directory.Add(Id);
                _listedAt = now;
            }
            catch (Exception e)
            {
                log.LogDebug(e, "Sweep {Sweep}: registering with the sweep directory failed", Id);
            }
        }
        foreach (var t in _running.ToList())
        {
            if (!_running.Contains(t)) continue;
            if (now > t.Expires)
                await Expire(t, $"the lease of attempt {t.Attempt} expired: no sign of life from its trainer on {t.Slot?.Name ?? "its device"} of silo {t.Slot?.Silo ?? "?"} for {LeaseTimeout.TotalSeconds:0.#} s");
            else if (t.Slot is { } slot && Dead(slot.Silo))
                await Expire(t, $"silo {slot.Silo} left the cluster");
        }
        await Settle();
    }

    /// <summary>Takes the lease of <paramref name="t"/>'s current attempt back through its trial grain, which decides:
    /// queued again, failed after too many losses, or already ended (its report was lost on the way here).</summary>
    async Task Expire(Entry t, string reason, bool lost = true)
    {
        var attempt = t.Attempt;
        // An attempt held ready that never started cannot have hurt its silo: not a lost lease.
        if (t.Waiting)
        {
            lost = false;
            reason += " (it was leased ahead and had not started)";
        }
        TrialSummary summary;
        try
        {
            summary = state.State.Status == SweepStatus.Cancelled
                ? await Trial(t).Expire(attempt, $"{reason} after the sweep was cancelled", Spec.MaxRetries, Spec.Metric, cancelled: true)
                : await Trial(t).Expire(attempt, reason, Spec.MaxRetries, Spec.Metric, lost: lost);
        }
        catch (Exception e)
        {
            log.LogWarning(e, "Expiring the lease of trial {Trial} failed; trying again at the next tick", t.Id);
            return;
        }
        if (t.Status != TrialStatus.Running || t.Attempt != attempt) return;
        Leave(t, ran: !t.Waiting);
        t.Slot = null;
        if (summary.Status.IsEnded()) RecordEnd(t, summary);
        else if (state.State.Status == SweepStatus.Running)
        {
            Set(t, TrialStatus.Queued);
            _again.Enqueue(t);
        }
        else CancelQueued(t);
    }

    /// <summary>Ends the sweep when no trial is left to run, and stops following once nothing holds a lease.</summary>
    async Task Settle()
    {
        if (definition.State.Spec is null) return;
        if (state.State.Status == SweepStatus.Running && _counts[(int)TrialStatus.Queued] == 0 && _counts[(int)TrialStatus.Running] == 0)
        {
            (state.State.Status, state.State.FinishedAt) = (SweepStatus.Done, DateTimeOffset.UtcNow);
            await state.WriteStateAsync();
            log.LogInformation("Sweep {Sweep} done", Id);
        }
        if (Following || _settled) return;
        _settled = true;
        _timer?.Dispose();
        _timer = null;
        try
        {
            await Directory.Remove(Id);
            if (await this.GetReminder(ReminderName) is { } reminder) await this.UnregisterReminder(reminder);
        }
        catch (Exception e)
        {
            _settled = false;
            log.LogWarning(e, "Sweep {Sweep}: leaving the directory or the reminder failed; the reminder will try again", Id);
        }
    }

    /// <summary><paramref name="t"/> no longer holds a lease: off the table and, when it <paramref name="ran"/> there
    /// (rather than was held ready), its slot freed for what it holds ready next.</summary>
    void Leave(Entry t, bool ran)
    {
        _running.Remove(t);
        if (ran && t.Slot is { } slot) _freed[slot] = DateTime.UtcNow;
    }

    void RecordEnd(Entry t, TrialSummary summary)
    {
        Set(t, summary.Status);
        (t.Summary, t.Slot) = (summary, null);
        _ended.Add(summary);
    }

    void CancelQueued(Entry t)
    {
        Set(t, TrialStatus.Cancelled);
        t.Summary = TrialSummary.CancelledBeforeRun(t.Id, t.Attempt);
    }

    void Set(Entry t, TrialStatus status)
    {
        _counts[(int)t.Status]--;
        _counts[(int)status]++;
        t.Status = status;
    }

    /// <summary>The trials of the spec, each once (equal specs are one trial), all queued.</summary>
    void Plan()
    {
        _trials.Clear();
        _byId.Clear();
        Array.Clear(_counts);
        for (var i = 0; i < Spec.Trials.Count; i++)
        {
            var id = TrialIdentity.Of(Spec.Trials[i]);
            if (_byId.ContainsKey(id)) continue;
            var entry = new Entry(id, i);
            _trials.Add(entry);
            _byId[id] = entry;
            _counts[(int)TrialStatus.Queued]++;
        }
    }

    /// <summary>The view, from the trial grains: the coordinator's silo was lost, or the grain was collected.</summary>
    async Task Rebuild()
    {
        Plan();
        var summaries = new List<TrialSummary>(_trials.Count);
        foreach (var batch in _trials.Chunk(ReadConcurrency))
            summaries.AddRange(await Task.WhenAll(batch.Select(t => Trial(t).GetSummary(Spec.Metric))));
        var expires = DateTime.UtcNow + LeaseTimeout; // a worker still running a trial renews it before then
        foreach (var (t, s) in _trials.Zip(summaries))
        {
            t.Attempt = s.Attempt;
            if (s.Status.IsEnded()) RecordEnd(t, s);
            else if (s.Status == TrialStatus.Running)
            {
                Set(t, TrialStatus.Running);
                (t.Expires, t.LeasedAt) = (expires, DateTime.UtcNow);
                _running.Add(t);
            }
            else if (state.State.Status == SweepStatus.Running) _queue.Enqueue(t);
            else CancelQueued(t);
        }
        // Who holds the running trials' leases: few trials, one call each. Workers go on meanwhile (a coordinator moves
        // while they begin, end, release trials): a holder of a newer attempt is taken as it is, and a trial that left
        // running between the two reads is read once more.
        var running = _running.ToList();
        var holders = await Task.WhenAll(running.Select(t => Trial(t).GetHolder()));
        var left = new List<Entry>();
        foreach (var (t, holder) in running.Zip(holders))
        {
            if (holder is null) left.Add(t);
            (t.Slot, t.Waiting, t.Attempt) = (holder?.Slot, holder?.Ahead ?? false, Math.Max(t.Attempt, holder?.Attempt ?? 0));
        }
        var again = await Task.WhenAll(left.Select(t => Trial(t).GetSummary(Spec.Metric)));
        foreach (var (t, s) in left.Zip(again))
        {
            t.Attempt = Math.Max(t.Attempt, s.Attempt);
            if (s.Status == TrialStatus.Running) continue; // begun again since: its holder's renewal tells this view (Renew)
            Leave(t, ran: false);
            if (s.Status.IsEnded()) RecordEnd(t, s);
            else if (state.State.Status == SweepStatus.Running)
            {
                Set(t, TrialStatus.Queued);
                _queue.Enqueue(t);
            }
            else CancelQueued(t);
        }
        log.LogInformation("Sweep {Sweep} rebuilt from its trials: {Ended} ended, {Running} running, {Queued} queued", Id,
            _ended.Count, _running.Count, _queue.Count);
    }

    /// <summary><paramref name="silo"/>'s status in this silo's view of the cluster's membership; null when the view
    /// does not list it (a silo of a cluster restarted since, or of an embedded silo's previous process).</summary>
    SiloStatus? MembershipStatus(string silo)
    {
        try
        {
            return membership.CurrentSnapshot.Members.TryGetValue(SiloAddress.FromParsableString(silo), out var member) ? member.Status : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    bool Member(string silo) => MembershipStatus(silo) is { } status && status != SiloStatus.Dead;

    bool Dead(string silo) => MembershipStatus(silo) == SiloStatus.Dead;

    async Task<int> ClusterDevices()
    {
        if (_devices is { } cached && DateTime.UtcNow - cached.At < DevicesFor) return cached.Devices;
        try
        {
            var devices = await Directory.ClusterDevices();
            _devices = (devices, DateTime.UtcNow);
            return devices;
        }
        catch (Exception)
        {
            return _devices?.Devices ?? 0;
        }
    }

    void StartTimer() =>
        _timer ??= this.RegisterGrainTimer(OnTick, new GrainTimerCreationOptions(Tick, Tick) { KeepAlive = true });

    static bool SameSweep(SweepSpec a, SweepSpec b) =>
        a.Name == b.Name && a.Metric == b.Metric && a.MaxRetries == b.MaxRetries && a.Trials.SequenceEqual(b.Trials);
}
