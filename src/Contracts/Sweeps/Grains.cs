using Descent.Contracts.Trials;

namespace Descent.Contracts.Sweeps;

/// <summary>One per sweep (key: the sweep id). Accepts the sweep, places its trials on free devices across the
/// cluster, follows membership, and knows every trial's state.</summary>
public interface ISweepCoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Accepts the sweep and starts placing trials; submitting the same sweep again changes nothing.</summary>
    Task<SweepSnapshot> Start(SweepSpec spec);
    Task<SweepSnapshot> GetSnapshot();
    /// <summary>Stops running trials and drops queued ones; finished results are kept.</summary>
    Task<SweepSnapshot> Cancel();
    /// <summary>From a trial grain: the trial ended (completed, diverged, failed or cancelled).</summary>
    Task TrialEnded(TrialRecord record);
    /// <summary>From a trial grain: the trial did not finish here (its silo is shutting down); place it again.</summary>
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
    /// <summary>Starts as many of <paramref name="trials"/> as this silo has free devices; returns those placed.</summary>
    Task<IReadOnlyList<Placement>> Offer(IReadOnlyList<TrialAssignment> trials);
}

/// <summary>One per sweep (key: the sweep id): every result exactly once, ranked.</summary>
public interface ILeaderboardGrain : IGrainWithStringKey
{
    Task Record(TrialRecord record);
    Task<Leaderboard> GetTable(RankMetric metric);
    Task<IReadOnlyList<TrialRecord>> GetResults();
}
