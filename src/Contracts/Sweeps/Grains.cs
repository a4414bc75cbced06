using Descent.Contracts.Trials;
using Orleans.Concurrency;

namespace Descent.Contracts.Sweeps;

/// <summary>
/// One per sweep (key: the sweep id). Holds the sweep's spec (written once), a queue of trials waiting for a device
/// and a lease table of the running ones; hands out leases to device workers that ask, expires leases that are not
/// renewed, and keeps counts and the ranking as a view over the trials' summaries. Its persistent state never grows
/// per trial event: each trial's state belongs to its <see cref="ITrialGrain"/>, from which the coordinator rebuilds
/// its view when it is activated again (its silo lost, the cluster restarted). A reminder wakes it while unfinished.
/// </summary>
public interface ISweepCoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Accepts the sweep and starts leasing its trials; submitting the same sweep again changes nothing.
    /// Throws <see cref="SpecException"/> naming every problem, or <see cref="ArgumentException"/> when the id is
    /// taken by another sweep.</summary>
    /// <param name="traceParent">The W3C trace context of the client's sweep span: every trial span becomes its child.</param>
    Task<SweepSnapshot> Start(SweepSpec spec, string? traceParent = null);

    /// <summary>Counts, running trials and their last steps: no call to any trial (interleaves with everything).</summary>
    [AlwaysInterleave]
    Task<SweepSnapshot> GetSnapshot();

    /// <summary>The sweep as submitted; null when no sweep has this id.</summary>
    [AlwaysInterleave]
    Task<SweepSpec?> GetSpec();

    /// <summary>Stops running trials (at their next step, through the workers' next renewal) and cancels queued ones;
    /// finished results are kept.</summary>
    Task<SweepSnapshot> Cancel();

    /// <summary>The summaries of ended trials in the order this activation learned of them, from position
    /// <paramref name="from"/> (at most <paramref name="max"/>): what a client appends to its results as the sweep goes.
    /// The list only grows, within an <see cref="EndedPage.Epoch"/>: a coordinator activated again (its silo lost)
    /// lists them anew, in another order, under another epoch, and a reader starts again from 0.</summary>
    [AlwaysInterleave]
    Task<EndedPage> GetEnded(int from, int max);

    /// <summary>The ranking of ended trials by <paramref name="metric"/> (null: the sweep's own; another metric reads
    /// every trial's history).</summary>
    Task<Leaderboard> GetTable(RankMetric? metric = null);

    /// <summary>Every stored full result, histories included, ordered by trial id (read from the trial grains).</summary>
    Task<IReadOnlyList<TrialRecord>> GetResults();

    /// <summary>From a device worker with a free device: the next queued trial, leased to <paramref name="slot"/>, or
    /// null when none waits (or the sweep is not running). Trials whose lease was lost come first. The coordinator
    /// calls nothing here: the worker takes the lease up with <see cref="ITrialGrain.Begin"/> and tells
    /// <see cref="Unclaimed"/> when that fails, so no lease request waits on a trial grain of a silo that just died.
    /// With <paramref name="ahead"/> the slot is busy and asks for a trial to hold ready after its current one (see
    /// <c>Descent:Leases:Ahead</c>): granted only while more trials are queued than there are slots holding leases, so
    /// that no idle device waits for a trial held ready elsewhere, or to a slot holding none of this sweep's trials (busy
    /// with another sweep's: sweeps are taken in turn). With nothing queued, an idle slot (not <paramref name="ahead"/>)
    /// gets a trial held ready elsewhere for longer than twice <c>Descent:Leases:Ahead</c>, whose holder's lease is revoked.</summary>
    Task<TrialLease?> Lease(DeviceSlot slot, bool ahead = false);

    /// <summary>From a device worker: the lease of <paramref name="attempt"/> on <paramref name="slot"/> was not taken up.
    /// With <paramref name="ended"/> the trial had already ended (a view rebuilt from older state) and that is recorded;
    /// without it <see cref="ITrialGrain.Begin"/> failed (its grain's silo is unreachable) and the trial is queued
    /// again, last, without counting a lost lease. Ignored unless that slot holds that attempt's lease.</summary>
    Task Unclaimed(string trialId, int attempt, DeviceSlot slot, TrialSummary? ended, string reason);

    /// <summary>From a device worker of silo <paramref name="silo"/>: renews its leases of this sweep and reports their
    /// progress; the reply names the trials to stop.</summary>
    Task<RenewReply> Renew(string silo, IReadOnlyList<LeaseRenewal> leases);

    /// <summary>From a device worker, after the trial grain accepted the attempt's result.</summary>
    Task Ended(TrialSummary summary);

    /// <summary>From a device worker: the attempt stopped early; place the trial again now. With <paramref name="lost"/>
    /// (its trainer was taken for hung) it counts against <see cref="SweepSpec.MaxRetries"/>; a silo shutting down
    /// gracefully (scaling in) hands its trials back without it.</summary>
    Task HandBack(string trialId, int attempt, string reason, bool lost = true);
}

/// <summary>
/// One per trial of a sweep (key: "sweep-id/trial-id"): the only owner of that trial's state: its configuration,
/// status, attempt, the slot holding its lease, how often it was lost, and its final result. Every write is that
/// small state (a history is written once, with the result). Results of attempts other than the current one are
/// ignored, so a trial ends exactly once.
/// </summary>
public interface ITrialGrain : IGrainWithStringKey
{
    /// <summary>From the device worker that got the lease: attempt <paramref name="attempt"/> is leased to
    /// <paramref name="slot"/> and begins. Returns null when it begins; otherwise the trial's summary (it has already
    /// ended). Throws <see cref="InvalidOperationException"/> when the trial is already at that attempt or a later one
    /// (a lease of a coordinator view that is behind). With <paramref name="ahead"/> the attempt is held ready on a
    /// slot still busy with another trial: it starts later, and a coordinator rebuilt meanwhile knows it from
    /// <see cref="GetHolder"/>, so that losing it (its silo dies before it starts) is not counted against the trial.</summary>
    Task<TrialSummary?> Begin(TrialSpec spec, int attempt, DeviceSlot slot, RankMetric metric, bool ahead = false);

    /// <summary>From a device worker: attempt <c>record.Attempts</c> ended with this result. True when it was the
    /// current attempt and is now the trial's result; false for a stale attempt (ignored).</summary>
    Task<bool> Finish(TrialRecord record);

    /// <summary>From the coordinator: the lease of <paramref name="attempt"/> expired or its holder handed it back. A
    /// trial still running that attempt is queued again, or fails once it was lost more than
    /// <paramref name="maxRetries"/> times, or (<paramref name="cancelled"/>: its sweep was cancelled) is cancelled;
    /// the reply is the trial's summary afterwards (an attempt that ended before the call keeps its result). Without
    /// <paramref name="lost"/> (handed back by a silo stopping gracefully) the loss is not counted.</summary>
    Task<TrialSummary> Expire(int attempt, string reason, int maxRetries, RankMetric metric, bool cancelled = false, bool lost = true);

    /// <summary>From a device worker: <paramref name="slot"/> does not run <paramref name="attempt"/> (its begin failed,
    /// perhaps with only the reply lost, or its lease was revoked). A trial still running that attempt on that slot is
    /// queued again without counting a lost lease; otherwise nothing changes (another slot began it, or a later attempt).</summary>
    Task Release(int attempt, DeviceSlot slot, string reason);

    Task<TrialSummary> GetSummary(RankMetric metric);

    /// <summary>The slot holding the current attempt's lease while the trial runs; null otherwise. What a coordinator
    /// activated again checks against the cluster's members: a holder that is not one (a silo that died, or the
    /// previous process of an embedded silo) cannot be running the trial.</summary>
    Task<TrialHolder?> GetHolder();

    /// <summary>The full result, or null when the trial has not reported one.</summary>
    Task<TrialRecord?> GetRecord();
}

/// <summary>
/// One per cluster (key <see cref="Key"/>): the sweeps that may have work, and the silos' device counts. Device
/// workers watch it (a long poll) to learn of new sweeps at once.
/// </summary>
public interface ISweepDirectoryGrain : IGrainWithStringKey
{
    const string Key = "sweeps";

    Task Add(string sweepId);
    Task Remove(string sweepId);

    /// <summary>The active sweeps, once their list differs from <paramref name="knownVersion"/> or after
    /// <paramref name="wait"/>, or at once, unchanged, when the directory's silo is stopping (it moves to another silo).
    /// Registers the calling silo's device count.</summary>
    [AlwaysInterleave]
    Task<SweepList> Watch(int knownVersion, string silo, int devices, TimeSpan wait);

    /// <summary>From a stopping silo's device worker: forget its devices and end the watches waiting here now (a
    /// waiting watch would hold up the silo's shutdown).</summary>
    Task Leave(string silo);

    /// <summary>Device slots of the silos that are active members of the cluster.</summary>
    [AlwaysInterleave]
    Task<int> ClusterDevices();
}

[GenerateSerializer, Immutable, Alias("descent.sweep-list")]
public sealed record SweepList(
    [property: Id(0)] int Version,
    [property: Id(1)] IReadOnlyList<string> Sweeps);

/// <summary>A page of <see cref="ISweepCoordinatorGrain.GetEnded"/>: positions count within <see cref="Epoch"/> (one per
/// activation of the coordinator, never 0).</summary>
[GenerateSerializer, Immutable, Alias("descent.ended-page")]
public sealed record EndedPage(
    [property: Id(0)] int Epoch,
    [property: Id(1)] IReadOnlyList<TrialSummary> Trials);
