using System.Diagnostics;
using Descent.Client.Grid;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Spectre.Console;

namespace Descent.Client.Commands;

/// <summary>Follows a running sweep until it ends: polls the coordinator, shows progress, and turns a cancel request
/// (Ctrl-C) into a cancelled sweep whose running trials have stopped.</summary>
sealed class SweepFollower(ISweepCoordinatorGrain coordinator, SweepPlan plan, string target, bool live)
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);
    static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(10);
    /// <summary>How long a cancelled sweep's running trials get to report before the client stops waiting.</summary>
    static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(60);
    const int MaxFailures = 5;

    readonly Stopwatch _clock = Stopwatch.StartNew();

    public async Task<SweepSnapshot> Follow(SweepSnapshot first, CancellationToken cancelRequested)
    {
        if (!live) return await Loop(first, cancelRequested, PrintPlain);
        SweepSnapshot? last = null;
        await Views.Out.Live(Views.Live(plan, first, _clock.Elapsed, target, false)).AutoClear(false)
            .StartAsync(async context => last = await Loop(first, cancelRequested, (snapshot, cancelling) =>
            {
                context.UpdateTarget(Views.Live(plan, snapshot, _clock.Elapsed, target, cancelling));
                context.Refresh();
            }));
        return last!;
    }

    TimeSpan? _lastPrinted;
    int _lastEnded = -1;
    bool _cancelPrinted;

    void PrintPlain(SweepSnapshot snapshot, bool cancelling)
    {
        if (cancelling && !_cancelPrinted)
        {
            _cancelPrinted = true;
            Console.Error.WriteLine("cancelling: running trials are stopping; finished results are kept (Ctrl-C again quits at once)");
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

    async Task<SweepSnapshot> Loop(SweepSnapshot snapshot, CancellationToken cancelRequested, Action<SweepSnapshot, bool> show)
    {
        var cancelSentAt = (TimeSpan?)null;
        var failures = 0;
        while (true)
        {
            try
            {
                if (cancelRequested.IsCancellationRequested && cancelSentAt is null)
                {
                    show(snapshot, true);
                    snapshot = await coordinator.Cancel();
                    cancelSentAt = _clock.Elapsed;
                }
                else snapshot = await coordinator.GetSnapshot();
                failures = 0;
            }
            catch (Exception e)
            {
                if (++failures >= MaxFailures)
                    throw new ClusterLostException($"lost contact with the cluster while following sweep {snapshot.Id}: {e.Message}");
            }
            show(snapshot, cancelRequested.IsCancellationRequested);
            var running = snapshot.Count(TrialState.Running);
            if (snapshot.Status is SweepStatus.Done or SweepStatus.Failed or SweepStatus.Cancelled && running == 0) return snapshot;
            if (cancelSentAt is { } sent && _clock.Elapsed - sent > CancelGrace) return snapshot;
            try
            {
                // Until Ctrl-C, a delay that Ctrl-C ends; after it, a plain one (also while the cancel is retried).
                await Task.Delay(Poll, cancelRequested.IsCancellationRequested ? CancellationToken.None : cancelRequested);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: the next round cancels the sweep.
            }
        }
    }
}

/// <summary>The cluster stopped answering while a sweep was followed (exit code 1).</summary>
sealed class ClusterLostException(string message) : Exception(message);
