using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>
/// Trials leased ahead (<see cref="LeaseOptions.Ahead"/>): a slot whose trials are short holds a few ready behind the
/// one it runs, so it trains on while its coordinator does not answer (its silo died and it moves), and losing what a
/// silo held ready costs those trials none of their retries.
/// </summary>
[Collection(nameof(SweepClusterTests))]
public sealed class AheadTests : IAsyncLifetime
{
    /// <summary>Until then every call to a sweep coordinator waits at the door: a coordinator that answers nothing.</summary>
    static long _stallUntil;

    sealed class WithStallingCoordinators : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) =>
            silo.AddIncomingGrainCallFilter(async context =>
            {
                if (context.Grain is ISweepCoordinatorGrain)
                {
                    var wait = new DateTime(Interlocked.Read(ref _stallUntil), DateTimeKind.Utc) - DateTime.UtcNow;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait);
                }
                await context.Invoke();
            });
    }

    SweepCluster? _cluster;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        Interlocked.Exchange(ref _stallUntil, 0);
        if (_cluster is not null) await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task Slots_train_on_through_two_seconds_in_which_their_coordinator_answers_nothing()
    {
        _cluster = await SweepCluster.StartAsync<WithStallingCoordinators>(silos: 1);
        const string id = "ahead-stall";
        var trials = SweepCluster.TinyTrials(400, steps: 40, firstSeed: 9700);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        // Trials held ready are shown queued: never more running than the silo has slots.
        var most = 0;
        await _cluster.WaitUntil(id, s => (most = Math.Max(most, s.Running.Count)) >= 0 && s.Ended >= 40, TimeSpan.FromSeconds(60));
        var stallFrom = DateTimeOffset.UtcNow;
        var stallTo = stallFrom + TimeSpan.FromSeconds(2);
        Interlocked.Exchange(ref _stallUntil, stallTo.UtcDateTime.Ticks);
        await Task.Delay(stallTo - DateTimeOffset.UtcNow);
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(120));

        Assert.Equal(trials.Count, done.Count(TrialStatus.Completed));
        Assert.InRange(most, 1, SweepCluster.SlotsPerSilo);
        var results = await _cluster.Coordinator(id).GetResults();
        // No lease was lost (max_retries 0, every trial completed). At the tail an idle slot takes trials the other holds
        // ready: a second lease, never a second run.
        Assert.All(results, r => Assert.InRange(r.Attempts, 1, 2));
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
        // Without trials held ready a slot needs the coordinator for each trial: none could start and end in the stall.
        var within = results.Count(r => r.StartedAt >= stallFrom && r.FinishedAt <= stallTo);
        var length = results.Average(r => (r.FinishedAt - r.StartedAt).TotalSeconds);
        Assert.True(within >= 4, $"{within} trials ran from start to end in the 2 s the coordinator answered nothing (trials take {length:0.000} s)");
    }

    [Fact]
    public async Task Trials_a_killed_silo_held_ready_run_elsewhere_without_spending_a_retry()
    {
        _cluster = await SweepCluster.StartAsync();
        const string id = "ahead-kill";
        var trials = SweepCluster.TinyTrials(240, steps: 40, firstSeed: 9800);
        // No retries: a trial whose lease is lost with its silo fails. Only the ones running there may.
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        var victim = _cluster.Cluster.SecondarySilos[0];
        var address = victim.SiloAddress.ToParsableString();
        await _cluster.WaitUntil(id, s => s.Ended >= 40 && s.Running.Any(t => t.Silo == address), TimeSpan.FromSeconds(60));
        await _cluster.Cluster.KillSiloAsync(victim);
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(120));

        var ended = await _cluster.Ended(id);
        var failed = ended.Where(s => s.Status != TrialStatus.Completed).ToList();
        Assert.True(failed.Count <= SweepCluster.SlotsPerSilo,
            $"{failed.Count} trials did not complete (at most the victim's {SweepCluster.SlotsPerSilo} running ones may): "
            + string.Join("; ", failed.Take(5).Select(s => $"{s.TrialId[..6]} {s.Status.Name()}: {s.Message}")));
        var results = await _cluster.Coordinator(id).GetResults();
        Assert.Equal(trials.Count, results.Count + failed.Count(s => !s.HasRecord));
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
        // What the victim held ready was begun there (attempt 1) and ran elsewhere as attempt 2.
        var placedAgain = results.Count(r => r.Attempts > 1 && r.Result.Status == TrialStatus.Completed);
        Assert.True(placedAgain > SweepCluster.SlotsPerSilo,
            $"{placedAgain} trials completed on a later attempt: the killed silo held none ready, or they failed");
        Assert.Equal(SweepStatus.Done, done.Status);
    }
}
