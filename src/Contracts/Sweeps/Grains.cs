using Descent.Contracts.Trials;
using Orleans.Concurrency;

namespace Descent.Contracts.Sweeps;

/// <summary>One per sweep (key: the sweep id). Accepts the sweep, places its trials on free devices across the
/// cluster, follows membership, and knows every trial's state.</summary>
public interface ISweepCoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Accepts the sweep and starts placing trials; submitting the same sweep again changes nothing.</summary>
    Task<SweepSnapshot> Start(SweepSpec spec);
    /// <summary>Only reads, so it interleaves with the sweep's transitions instead of waiting behind them (and
    /// they do not wait behind its queries to running trials).</summary>
    [AlwaysInterleave]
    Task<SweepSnapshot> GetSnapshot();
    /// <summary>Stops running trials and drops queued ones; finished results are kept.</summary>
    Task<SweepSnapshot> Cancel();
    /// <summary>From a silo worker: a trial that waited in its line started on <paramref name="slot"/>.</summary>
    [OneWay]
    Task TrialStarted(string trialId, int attempt, DeviceSlot slot);
    /// <summary>From a trial grain: the trial ended (completed, diverged, failed or cancelled).</summary>
    Task TrialEnded(TrialRecord record);
    /// <summary>From a trial grain or a silo worker: the trial did not run to its end there (the silo is shutting
    /// down, or it could not start); place it again.</summary>
    Task TrialHandedBack(string trialId, int attempt, string reason);
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
    Task Record(TrialRecord record);
    Task<Leaderboard> GetTable(RankMetric metric);
    Task<IReadOnlyList<TrialRecord>> GetResults();
}
