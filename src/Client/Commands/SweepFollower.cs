using System.Diagnostics;
using Descent.Sweeps;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Silo;
using Spectre.Console;

namespace Descent.Client.Commands;

/// <summary>Follows a running sweep until it ends: reads the coordinator's snapshot twice a second (counts and the
/// running trials' last steps, which the device workers push to it), collects the trials that ended meanwhile
/// (<see cref="ResultCollector"/>: on disk at once), shows progress, and turns a stop request
/// (Ctrl-C) into a cancelled sweep whose running trials have stopped; a quit request (a second Ctrl-C) ends the
/// following at once with the last snapshot.
/// A write that fails (the journal, or the embedded silo's store, <paramref name="storeFailed"/>) ends the following at
/// once with its <see cref="WriteFailedException"/>: nothing after it could be kept.</summary>
sealed class SweepFollower(ISweepCoordinatorGrain coordinator, SweepPlan plan, Cluster.ClusterTarget cluster, bool live, ResultCollector collector,
    Task<WriteFailedException> storeFailed)
{
    readonly string target = cluster.Describe;

    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);
    static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(10);
    /// <summary>How long a cancelled sweep's running trials get to report before the client stops waiting.</summary>
    static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(60);
    /// <summary>How long calls may keep failing (a silo lost, the coordinator moving to another silo, gateways
    /// changing) before the client gives up on the cluster.</summary>
    static readonly TimeSpan FailureBudget = TimeSpan.FromSeconds(60);
    /// <summary>How long one snapshot call may take: a call that was in flight to a silo that died waits for
    /// Orleans' whole response timeout (30 s) otherwise.</summary>
    static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);

    readonly Stopwatch _clock = Stopwatch.StartNew();

    public async Task<SweepSnapshot> Follow(SweepSnapshot first, StopRequests stops)
    {
        if (!live) return await Loop(first, stops, PrintPlain);
        SweepSnapshot? last = null;
        await Views.Out.Live(Views.Live(plan, first, _clock.Elapsed, target, false)).AutoClear(false)
            .StartAsync(async context => last = await Loop(first, stops, (snapshot, cancelling) =>
            {
                context.UpdateTarget(Views.Live(plan, snapshot, _clock.Elapsed, target, cancelling));
                context.Refresh();
            }));
        return last!;
    }

    /// <summary>What the client says when it gave up on <paramref name="cluster"/> after <paramref name="budget"/> of
    /// failed calls while following sweep <paramref name="sweepId"/>: the sweep goes on if the cluster comes back, and the
    /// exact commands (with the cluster the client used) that show its progress and fetch its results.</summary>
    internal static string LostMessage(Cluster.ClusterTarget cluster, string sweepId, TimeSpan budget, string reason)
    {
        var lost = $"lost contact with the {cluster.Describe} for {budget.TotalSeconds:0} s while following sweep {sweepId} ({reason})";
        if (cluster.Command("status", sweepId) is not { } status) return $"{lost}; the trials that had ended are in its trials.jsonl";
        return $"{lost}; a cluster that comes back goes on with it: `{status}` shows it, "
            + $"`{cluster.Command("leaderboard", sweepId, "--json")} > results.json` gets its results, "
            + "and the trials that had ended are in its trials.jsonl";
    }

    /// <summary>What a client detached by SIGTERM (<c>--detach-on-sigterm</c>) says: the sweep runs on, how to re-attach
    /// and how to follow it and fetch its results.</summary>
    internal static string DetachedMessage(Cluster.ClusterTarget cluster, string sweepId) =>
        $"SIGTERM: stopped following sweep {sweepId}, which runs on on the {cluster.Describe}; the same command (same grid, --sweep-id {sweepId}) "
        + $"re-attaches to it, `{cluster.Command("status", sweepId)}` shows it and `{cluster.Command("leaderboard", sweepId, "--json")} > results.json` gets its results";

    TimeSpan? _lastPrinted;
    int _lastEnded = -1;
    bool _cancelPrinted;

    void PrintPlain(SweepSnapshot snapshot, bool cancelling)
    {
        if (cancelling && !_cancelPrinted)
        {
            _cancelPrinted = true;
            Console.Error.WriteLine("cancelling: running trials are stopping; finished results are kept (Ctrl-C again, a second later: quit without waiting for them)");
        }
        var now = _clock.Elapsed;
        var ended = snapshot.Ended;
        if (_lastPrinted is { } last)
        {
            if (ended == _lastEnded && now - last < PlainEvery) return;
            if (ended != _lastEnded && now - last < TimeSpan.FromSeconds(1) && ended < snapshot.TrialCount) return;
        }
        (_lastPrinted, _lastEnded) = (now, ended);
        Console.Error.WriteLine($"[{Views.Duration(now),6}] {Views.Summary(snapshot, now)}");
    }

    async Task<SweepSnapshot> Loop(SweepSnapshot snapshot, StopRequests stops, Action<SweepSnapshot, bool> show)
    {
        var cancelSentAt = (TimeSpan?)null;
        var failingSince = (TimeSpan?)null;
        while (!stops.Quit.IsCancellationRequested)
        {
            // A SIGTERM of a detaching client (a sweep Job's pod evicted): the sweep runs on, unfollowed.
            if (stops.Detached) throw new SweepDetachedException(DetachedMessage(cluster, snapshot.Id));
            if (storeFailed.IsCompleted) throw storeFailed.Result;
            try
            {
                // A quit abandons the call in flight (the cluster may not answer for its 30 s response timeout).
                if (stops.Requested && cancelSentAt is null)
                {
                    show(snapshot, true);
                    snapshot = await coordinator.Cancel().WaitAsync(stops.Quit);
                    cancelSentAt = _clock.Elapsed;
                }
                else snapshot = await coordinator.GetSnapshot().WaitAsync(CallTimeout, stops.Quit);
                await collector.CatchUp(snapshot, stops.Quit);
                failingSince = null;
            }
            catch (OperationCanceledException) when (stops.Quit.IsCancellationRequested)
            {
                break;
            }
            catch (WriteFailedException)
            {
                // The journal cannot be written: not the cluster's fault, and not one that passes.
                throw;
            }
            catch (Exception e)
            {
                // A call that failed because the store did (the grain's write): the store's failure, at once.
                if (storeFailed.IsCompleted) throw storeFailed.Result;
                // Rejections, timeouts and lost silos during membership changes are retried for a while.
                failingSince ??= _clock.Elapsed;
                if (_clock.Elapsed - failingSince > FailureBudget)
                    throw new ClusterLostException(LostMessage(cluster, snapshot.Id, FailureBudget, e.Message.Split('\n')[0]));
                await Task.WhenAny(Task.Delay(Poll, stops.Quit), storeFailed);
                continue;
            }
            if (snapshot.TrialCount == 0 || snapshot.Message is not null && snapshot.Status == SweepStatus.Failed)
                throw new ClusterLostException($"the cluster no longer knows sweep {snapshot.Id}: "
                    + (snapshot.Message ?? "its state is gone from the cluster's grain storage (storage that does not survive a silo, or a Redis restarted without its data)")
                    + "; the trials that had ended are in its trials.jsonl");
            show(snapshot, stops.Requested);
            if (snapshot.Status.IsEnded() && snapshot.Count(TrialStatus.Running) == 0) return snapshot;
            if (cancelSentAt is { } sent && _clock.Elapsed - sent > CancelGrace) return snapshot;
            // Until the first request, a delay that it ends; after it, one that a quit ends; a failed store ends either.
            // A stop: the next round cancels the sweep. A quit: the loop ends.
            await Task.WhenAny(Task.Delay(Poll, stops.Requested ? stops.Quit : stops.Stop), storeFailed);
        }
        if (cancelSentAt is null)
        {
            // Quit before the cancel reached the cluster: one short try, so a cluster's sweep does not run on unasked.
            try { snapshot = await coordinator.Cancel().WaitAsync(TimeSpan.FromSeconds(2)); }
            catch (Exception) { /* quitting regardless */ }
        }
        return snapshot;
    }
}

/// <summary>A SIGTERM stopped the following of a sweep left running on its cluster (<c>--detach-on-sigterm</c>; exit code 1).</summary>
sealed class SweepDetachedException(string message) : Exception(message);

/// <summary>The cluster stopped answering while a sweep was followed (exit code 1).</summary>
sealed class ClusterLostException(string message) : Exception(message);

/// <summary>A write failed (a result file, the embedded silo's store) and the sweep stopped or was left to its cluster
/// (exit code 1); the message is the one line to show: the file, the cause, and how to go on.</summary>
sealed class SweepStoppedException(string message, WriteFailedException failure, bool started) : Exception(message, failure)
{
    /// <summary>The sweep had been submitted (or resumed) before the write failed; false: nothing ran.</summary>
    public bool Started { get; } = started;
}
