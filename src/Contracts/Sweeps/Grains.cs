using Descent.Contracts.Trials;
using Orleans.Concurrency;

namespace Descent.Contracts.Sweeps;

/// <summary>One per sweep (key: the sweep id). Accepts the sweep, places its trials on free devices across the
/// cluster, follows membership, and knows every trial's state.</summary>
public interface ISweepCoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Accepts the sweep and starts placing trials; submitting the same sweep again changes nothing.</summary>
    /// <param name="traceParent">The W3C trace context of the client's sweep span: every trial span becomes its child.</param>
    Task<SweepSnapshot> Start(SweepSpec spec, string? traceParent = null);
    /// <summary>Only reads, so it interleaves with the sweep's transitions instead of waiting behind them (and
    /// they do not wait behind its queries to running trials).</summary>
    [AlwaysInterleave]
    Task<SweepSnapshot> GetSnapshot();
    /// <summary>The sweep as submitted; null when no sweep has this id.</summary>
    [AlwaysInterleave]
    Task<SweepSpec?> GetSpec();
    /// <summary>Stops running trials and drops queued ones; finished results are kept.</summary>
    Task<SweepSnapshot> Cancel();
    /// <summary>From a silo worker: a trial that waited in its line started on <paramref name="slot"/>.</summary>
    [OneWay]
    Task TrialStarted(string trialId, int attempt, DeviceSlot slot);
    /// <summary>From a trial grain: the trial ended (completed, diverged, failed or cancelled).</summary>
    Task TrialEnded(TrialRecord record);
    /// <summary>From a trial grain or a silo worker: the trial did not run to its end there; place it again.
    /// <paramref name="siloLost"/>: the silo is shutting down (counts against the retry limit), rather than the
    /// trial merely failing to start (does not).</summary>
    Task TrialHandedBack(string trialId, int attempt, string reason, bool siloLost);
}

/// <summary>One per trial of a sweep (key: "sweep-id/trial-id"). Runs the trainer on one device of the silo it
/// lives on, on a dedicated thread, and reports the result.</summary>
public interface ITrialGrain : IGrainWithStringKey
{
    /// <summary>Starts the trial on <paramref name="slot"/> (already claimed for it on this silo) and returns at once.
    /// False when this activation is not on the slot's silo.</summary>
    Task<bool> Start(TrialAssignment assignment, DeviceSlot slot);
    Task<TrialProgress?> GetProgress();
    Task Cancel();
}

/// <summary>One per silo (key: the silo's address): that silo's devices, and the place where trials are handed
/// to them.</summary>
public interface ISiloWorkerGrain : IGrainWithStringKey
{
    Task<IReadOnlyList<DeviceSlot>> GetDevices();
    /// <summary>Starts as many of <paramref name="trials"/> as this silo has free devices and keeps up to one more
    /// per device in line; returns those it took, in order.</summary>
    Task<IReadOnlyList<Placement>> Offer(IReadOnlyList<TrialAssignment> trials);
    /// <summary>From a trial grain of this silo: its device is free; start the next trial in line.</summary>
    [OneWay]
    Task DeviceFreed();
    /// <summary>Drops the trials of <paramref name="sweepId"/> still in line (the sweep was cancelled).</summary>
    [OneWay]
    Task Withdraw(string sweepId);
}

/// <summary>One per sweep (key: the sweep id): every result exactly once, ranked.</summary>
public interface ILeaderboardGrain : IGrainWithStringKey
{
    /// <summary>Sets the sweep's metric, which <see cref="Record"/> evaluates as results arrive.</summary>
    Task Open(RankMetric metric);
    /// <summary>Stores the result (replacing an earlier one of the same trial) and its row.</summary>
    Task Record(TrialRecord record);
    /// <summary>The ranking by <paramref name="metric"/> (null: the sweep's own).</summary>
    Task<Leaderboard> GetTable(RankMetric? metric = null);
    /// <summary>Every full result, histories included, ordered by trial id.</summary>
    Task<IReadOnlyList<TrialRecord>> GetResults();
}

/// <summary>One per trial of a sweep (key: "sweep-id/trial-id"): that trial's full result, stored on its own so
/// that no write carries more than one history.</summary>
public interface ITrialResultGrain : IGrainWithStringKey
{
    Task Save(TrialRecord record);
    Task<TrialRecord?> Get();
}
