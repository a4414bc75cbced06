using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Microsoft.Extensions.Logging;

namespace Descent.Grains.Sweeps;

/// <summary>A trial's persistent state: small and of fixed size, apart from the final result written once.</summary>
[GenerateSerializer, Alias("descent.trial-state")]
public sealed class TrialGrainState
{
    [Id(0)] public TrialSpec? Spec { get; set; }
    [Id(1)] public TrialStatus Status { get; set; } = TrialStatus.Queued;
    /// <summary>The current attempt: how many times the trial was leased.</summary>
    [Id(2)] public int Attempt { get; set; }
    /// <summary>The slot holding the current attempt's lease while running.</summary>
    [Id(3)] public DeviceSlot? Holder { get; set; }
    /// <summary>How many leases expired or were handed back: what the sweep's retry limit counts.</summary>
    [Id(4)] public int Losses { get; set; }
    [Id(5)] public string? Message { get; set; }
    [Id(6)] public TrialRecord? Record { get; set; }
    /// <summary>The current attempt was begun ahead, on a slot still busy with another trial (not written again when it
    /// starts: a coordinator rebuilt from this learns the truth at the slot's next renewal).</summary>
    [Id(7)] public bool Ahead { get; set; }
}

/// <summary>
/// One trial of one sweep (key "sweep-id/trial-id"), the owner of its state (<see cref="TrialGrainState"/>). It runs
/// nothing itself: the coordinator leases its attempts to device workers, which report the result here. It calls
/// no other grain, so no call cycle can form through it.
/// </summary>
public sealed class TrialGrain(
    [PersistentState("trial", SweepStorage.Name)] IPersistentState<TrialGrainState> state,
    ILogger<TrialGrain> log) : Grain, ITrialGrain
{
    TrialGrainState S => state.State;

    string TrialId
    {
        get
        {
            var key = this.GetPrimaryKeyString();
            return key[(key.LastIndexOf('/') + 1)..];
        }
    }

    public async Task<TrialSummary?> Begin(TrialSpec spec, int attempt, DeviceSlot slot, RankMetric metric, bool ahead = false)
    {
        if (S.Status.IsEnded()) return Summary(metric);
        if (attempt <= S.Attempt)
            throw new InvalidOperationException($"trial {this.GetPrimaryKeyString()}: attempt {attempt} leased after attempt {S.Attempt}");
        await Write(() => (S.Spec, S.Status, S.Attempt, S.Holder, S.Message, S.Ahead) = (spec, TrialStatus.Running, attempt, slot, null, ahead));
        return null;
    }

    public async Task<bool> Finish(TrialRecord record)
    {
        if (S.Status != TrialStatus.Running || record.Attempts != S.Attempt)
        {
            log.LogInformation("Ignoring the result of trial {Trial} attempt {Attempt}: the trial is {Status} at attempt {Current}",
                this.GetPrimaryKeyString(), record.Attempts, S.Status.Name(), S.Attempt);
            return false;
        }
        if (!record.Result.Status.IsEnded())
            throw new ArgumentException($"trial {record.TrialId}: a result's status must be an end, not {record.Result.Status.Name()}");
        await Write(() => (S.Status, S.Holder, S.Message, S.Record) = (record.Result.Status, null, record.Result.Message, record));
        return true;
    }

    public async Task<TrialSummary> Expire(int attempt, string reason, int maxRetries, RankMetric metric, bool cancelled = false, bool lost = true)
    {
        if (S.Status == TrialStatus.Running && S.Attempt == attempt)
        {
            await Write(() =>
            {
                if (lost) S.Losses++;
                S.Holder = null;
                if (cancelled) (S.Status, S.Message) = (TrialStatus.Cancelled, reason);
                else if (S.Losses > maxRetries) (S.Status, S.Message) = (TrialStatus.Failed, $"{reason}; gave up after {S.Attempt} attempts");
                else (S.Status, S.Message) = (TrialStatus.Queued, reason);
            });
            if (S.Status == TrialStatus.Failed) log.LogWarning("Trial {Trial} failed: {Message}", this.GetPrimaryKeyString(), S.Message);
            else log.LogInformation("Trial {Trial} is {Status} again: {Reason}", this.GetPrimaryKeyString(), S.Status.Name(), reason);
        }
        return Summary(metric);
    }

    public async Task Release(int attempt, DeviceSlot slot, string reason)
    {
        if (S.Status != TrialStatus.Running || S.Attempt != attempt || S.Holder != slot) return;
        await Write(() => (S.Status, S.Holder, S.Message) = (TrialStatus.Queued, null, reason));
        log.LogInformation("Trial {Trial} attempt {Attempt} released by {Slot} of silo {Silo}: {Reason}", this.GetPrimaryKeyString(), attempt, slot.Name, slot.Silo, reason);
    }

    /// <summary>Changes the state and writes it; when the write fails (a store timeout, a conflict), the state in memory
    /// goes back to what is stored and this activation is dropped, so the caller's retry meets the stored state (and a
    /// fresh ETag) rather than a change that never reached the store.</summary>
    async Task Write(Action change)
    {
        var before = (S.Spec, S.Status, S.Attempt, S.Holder, S.Losses, S.Message, S.Record, S.Ahead);
        change();
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception)
        {
            (S.Spec, S.Status, S.Attempt, S.Holder, S.Losses, S.Message, S.Record, S.Ahead) = before;
            DeactivateOnIdle();
            throw;
        }
    }

    public Task<TrialSummary> GetSummary(RankMetric metric) => Task.FromResult(Summary(metric));

    public Task<TrialHolder?> GetHolder() =>
        Task.FromResult(S.Status == TrialStatus.Running && S.Holder is { } holder ? new TrialHolder(holder, S.Ahead, S.Attempt) : null);

    public Task<TrialRecord?> GetRecord() => Task.FromResult(S.Record);

    TrialSummary Summary(RankMetric metric) => S.Record is { } record && S.Status == record.Result.Status
        ? TrialSummary.Of(record, metric)
        : new TrialSummary(TrialId, S.Status, S.Attempt, Message: S.Message);
}
