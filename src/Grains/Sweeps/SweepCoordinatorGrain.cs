using Descent.Contracts;
using System.Diagnostics;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Descent.Grains.Sweeps;

[GenerateSerializer, Alias("descent.sweep-state")]
public sealed class SweepState
{
    [Id(0)] public SweepSpec? Spec { get; set; }
    [Id(1)] public SweepStatus Status { get; set; } = SweepStatus.Queued;
    [Id(2)] public DateTimeOffset? StartedAt { get; set; }
    [Id(3)] public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>Trials in submission order.</summary>
    [Id(4)] public List<TrialEntry> Trials { get; set; } = [];
    /// <summary>The client's sweep span (W3C trace context), parent of every trial span.</summary>
    [Id(5)] public string? TraceParent { get; set; }
}

[GenerateSerializer, Alias("descent.trial-entry")]
public sealed class TrialEntry
{
    [Id(0)] public string Id { get; set; } = "";
    /// <summary>Where its spec is in <see cref="SweepState.Spec"/>'s trials (not a copy: the state is written whole
    /// after every transition, so every byte in it is paid for many times).</summary>
    [Id(1)] public int Index { get; set; }
    [Id(2)] public TrialState State { get; set; }
    /// <summary>How many times it was placed.</summary>
    [Id(3)] public int Attempts { get; set; }
    [Id(4)] public DeviceSlot? Slot { get; set; }
    [Id(5)] public double? FinalLoss { get; set; }
    [Id(6)] public int Steps { get; set; }
    [Id(7)] public string? Message { get; set; }
    /// <summary>The silo the trial was handed to (running there, or in its line while still queued).</summary>
    [Id(8)] public string? Silo { get; set; }

    /// <summary>How many times a silo it was at left the cluster or shut down: what the retry count limits.</summary>
    [Id(9)] public int SiloLosses { get; set; }

    /// <summary>Handed to a silo and not ended: the silo owes a result.</summary>
    public bool AtSilo => Silo is not null && State is TrialState.Running or TrialState.Queued;
}

/// <summary>
/// One sweep: accepts it, keeps every device of the cluster busy with its queued trials, follows membership
/// (trials of a silo that left are placed again, up to the retry count), collects results into the leaderboard,
/// and persists its state after every transition.
/// </summary>
public sealed class SweepCoordinatorGrain(
    [PersistentState("sweep", SweepStorage.Name)] IPersistentState<SweepState> state,
    IClusterMembershipService membership,
    IGrainFactory grains,
    ILogger<SweepCoordinatorGrain> log) : Grain, ISweepCoordinatorGrain
{
    static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    static readonly TimeSpan OfferTimeout = TimeSpan.FromSeconds(10);
    const int OfferBatch = 64;

    readonly Dictionary<SiloAddress, int> _devicesBySilo = [];
    IGrainTimer? _timer;

    string Id => this.GetPrimaryKeyString();
    ILeaderboardGrain Leaderboard => grains.GetGrain<ILeaderboardGrain>(Id);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Following) StartTimer(); // resumed after a move: keep following
        return Task.CompletedTask;
    }

    public async Task<SweepSnapshot> Start(SweepSpec spec, string? traceParent = null)
    {
        if (state.State.Spec is { } existing)
        {
            if (!SameSweep(existing, spec))
                throw new ArgumentException($"sweep id \"{Id}\" is already used by another sweep (\"{existing.Name}\")");
            return await GetSnapshot();
        }
        var problems = spec.Problems();
        if (problems.Count > 0) throw new SpecException(problems);

        state.State.Spec = spec;
        state.State.TraceParent = traceParent ?? DescentTelemetry.TraceParent(Activity.Current);
        state.State.Status = SweepStatus.Running;
        state.State.StartedAt = DateTimeOffset.UtcNow;
        var seen = new HashSet<string>();
        for (var i = 0; i < spec.Trials.Count; i++)
        {
            var id = TrialIdentity.Of(spec.Trials[i]);
            if (seen.Add(id)) state.State.Trials.Add(new TrialEntry { Id = id, Index = i, State = TrialState.Queued });
        }
        await Leaderboard.Open(spec.Metric);
        await state.WriteStateAsync();
        StartTimer();
        await Place();
        return await GetSnapshot();
    }

    public async Task<SweepSnapshot> GetSnapshot()
    {
        var running = state.State.Trials.Where(t => t.State == TrialState.Running).ToList();
        var live = await Task.WhenAll(running.Select(async t =>
        {
            try
            {
                return await grains.GetGrain<ITrialGrain>(TrialGrain.Key(Id, t.Id)).GetProgress().WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (Exception)
            {
                return null; // its silo may be gone; membership will tell
            }
        }));
        var progress = live.Where(p => p is not null).ToDictionary(p => p!.TrialId, p => p!);
        var trials = state.State.Trials.Select(t => t.State == TrialState.Running && progress.TryGetValue(t.Id, out var p) && p.State == TrialState.Running
            ? p with { Attempts = t.Attempts }
            : new TrialProgress(t.Id, t.State, t.Attempts, t.Silo, t.Slot?.Name, t.Steps, t.FinalLoss, t.Message)).ToList();
        return new SweepSnapshot(Id, state.State.Spec?.Name ?? "", state.State.Status, state.State.StartedAt, state.State.FinishedAt,
            trials, await ClusterDevices());
    }

    public Task<SweepSpec?> GetSpec() => Task.FromResult(state.State.Spec);

    public async Task<SweepSnapshot> Cancel()
    {
        if (state.State.Status is SweepStatus.Running or SweepStatus.Queued)
        {
            state.State.Status = SweepStatus.Cancelled;
            state.State.FinishedAt = DateTimeOffset.UtcNow;
            foreach (var t in state.State.Trials.Where(t => t.State == TrialState.Queued))
                (t.State, t.Message) = (TrialState.Cancelled, "sweep cancelled before it started");
            await state.WriteStateAsync();
            foreach (var silo in ActiveSilos()) await Try(() => grains.GetGrain<ISiloWorkerGrain>(silo.Key()).Withdraw(Id));
            await Task.WhenAll(state.State.Trials.Where(t => t.State == TrialState.Running)
                .Select(t => Try(() => grains.GetGrain<ITrialGrain>(TrialGrain.Key(Id, t.Id)).Cancel())));
        }
        return await GetSnapshot();
    }

    public async Task TrialEnded(TrialRecord record)
    {
        var entry = state.State.Trials.Find(t => t.Id == record.TrialId);
        if (entry is null || !entry.AtSilo || entry.Attempts != record.Attempts)
        {
            log.LogInformation("Ignoring a stale result of trial {Trial} (attempt {Attempt})", record.TrialId, record.Attempts);
            return;
        }
        await Leaderboard.Record(record);
        entry.State = TrialGrain.StateOf(record.Result.Status);
        entry.FinalLoss = record.Result.FinalLoss;
        entry.Steps = record.Result.History.Count;
        entry.Message = record.Result.Message;
        // One write for the end and the trials placed after it. It happens before this call returns, and the trial
        // grain repeats the call until it succeeds, so a coordinator lost before the write hears of the end again.
        await Place(dirty: true);
    }

    public Task TrialStarted(string trialId, int attempt, DeviceSlot slot)
    {
        var entry = state.State.Trials.Find(t => t.Id == trialId);
        if (entry is null || entry.State != TrialState.Queued || entry.Silo != slot.Silo || entry.Attempts != attempt) return Task.CompletedTask;
        // Not persisted on its own (one write less per trial): a coordinator restored without it sees the trial still
        // waiting at that silo, which it follows the same way, and accepts its end.
        (entry.State, entry.Slot) = (TrialState.Running, slot);
        return Task.CompletedTask;
    }

    public async Task TrialHandedBack(string trialId, int attempt, string reason, bool siloLost)
    {
        var entry = state.State.Trials.Find(t => t.Id == trialId);
        if (entry is null || !entry.AtSilo || entry.Attempts != attempt) return;
        Requeue(entry, reason, siloLost);
        await Place(dirty: true);
    }

    /// <summary>Every second while running: requeue trials of silos that left, keep devices busy, notice the end.</summary>
    async Task OnTick()
    {
        var active = ActiveSilos().Select(s => s.Key()).ToHashSet();
        var lost = state.State.Trials.Where(t => t.AtSilo && !active.Contains(t.Silo!)).ToList();
        foreach (var t in lost)
        {
            if (state.State.Status == SweepStatus.Running) Requeue(t, $"silo {t.Silo} left the cluster");
            else (t.State, t.Message, t.Silo) = (TrialState.Cancelled, $"silo {t.Silo} left the cluster after the sweep was cancelled", null);
        }
        await Place(dirty: lost.Count > 0);
        if (!Following)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>While the sweep runs, or a cancelled sweep still waits for trials at silos, membership matters.</summary>
    bool Following => state.State.Status == SweepStatus.Running || state.State.Trials.Any(t => t.AtSilo);

    /// <summary>Queues a trial its silo did not finish. A lost silo counts against the retry limit; a trial that
    /// merely could not start (<paramref name="siloLost"/> false) does not.</summary>
    void Requeue(TrialEntry entry, string reason, bool siloLost = true)
    {
        if (siloLost) entry.SiloLosses++;
        if (entry.SiloLosses > state.State.Spec!.MaxRetries)
        {
            (entry.State, entry.Message) = (TrialState.Failed, $"{reason}; gave up after {entry.Attempts} attempts");
            log.LogWarning("Trial {Trial} failed: {Message}", entry.Id, entry.Message);
        }
        else
        {
            (entry.State, entry.Message, entry.Slot, entry.Silo) = (TrialState.Queued, reason, null, null);
            log.LogInformation("Trial {Trial} queued again: {Reason}", entry.Id, reason);
        }
    }

    /// <summary>Offers queued trials to every active silo until the queue or the free devices run out, then writes the
    /// state once if anything changed (<paramref name="dirty"/>: the caller changed it already).</summary>
    async Task Place(bool dirty = false)
    {
        if (state.State.Status != SweepStatus.Running)
        {
            if (dirty) await state.WriteStateAsync();
            return;
        }
        var changed = dirty;
        foreach (var silo in ActiveSilos().OrderBy(_ => Random.Shared.Next()))
        {
            var queued = state.State.Trials.Where(t => t.State == TrialState.Queued && t.Silo is null).Take(OfferBatch).ToList();
            if (queued.Count == 0) break;
            var offer = queued.Select(t => new TrialAssignment(Id, t.Id, state.State.Spec!.Trials[t.Index], t.Attempts + 1, state.State.TraceParent)).ToList();
            IReadOnlyList<Placement> placed;
            try
            {
                // A silo that died but is not yet declared dead must not hold the sweep up for a whole call timeout.
                placed = await SiloPlacement.On(silo, () => grains.GetGrain<ISiloWorkerGrain>(silo.Key()).Offer(offer)).WaitAsync(OfferTimeout);
            }
            catch (Exception e)
            {
                log.LogWarning(e, "Offering trials to silo {Silo} failed", silo);
                continue;
            }
            foreach (var p in placed)
            {
                var entry = queued.First(t => t.Id == p.TrialId);
                (entry.Attempts, entry.Silo, entry.Slot, entry.Message) = (p.Attempt, silo.Key(), p.Slot, null);
                entry.State = p.Slot is null ? TrialState.Queued : TrialState.Running;
                changed = true;
            }
        }
        if (state.State.Trials.All(t => t.State is not (TrialState.Queued or TrialState.Running)))
        {
            state.State.Status = SweepStatus.Done;
            state.State.FinishedAt = DateTimeOffset.UtcNow;
            _timer?.Dispose();
            _timer = null;
            changed = true;
            log.LogInformation("Sweep {Sweep} done", Id);
        }
        if (changed) await state.WriteStateAsync();
    }

    IEnumerable<SiloAddress> ActiveSilos() =>
        membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress);

    async Task<int> ClusterDevices()
    {
        var total = 0;
        foreach (var silo in ActiveSilos())
        {
            if (!_devicesBySilo.TryGetValue(silo, out var count))
            {
                try
                {
                    count = (await SiloPlacement.On(silo, () => grains.GetGrain<ISiloWorkerGrain>(silo.Key()).GetDevices()).WaitAsync(OfferTimeout)).Count;
                    if (count > 0) _devicesBySilo[silo] = count;
                }
                catch (Exception)
                {
                    count = 0;
                }
            }
            total += count;
        }
        return total;
    }

    void StartTimer() =>
        _timer ??= this.RegisterGrainTimer(OnTick, new GrainTimerCreationOptions(Tick, Tick) { KeepAlive = true });

    static bool SameSweep(SweepSpec a, SweepSpec b) =>
        a.Name == b.Name && a.Metric == b.Metric && a.MaxRetries == b.MaxRetries && a.Trials.SequenceEqual(b.Trials);

    static async Task Try(Func<Task> call)
    {
        try { await call(); }
        catch (Exception) { /* a trial whose silo is gone ends by membership */ }
    }
}
