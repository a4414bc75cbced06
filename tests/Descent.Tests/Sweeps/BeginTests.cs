using System.Collections.Concurrent;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>
/// A lease is taken up by the device worker at the trial grain (<see cref="ITrialGrain.Begin"/>), not inside the
/// coordinator's turn: a trial grain that answers late (its silo just died, its store is slow) holds up only the
/// device that got its lease, and one that cannot be reached sends the trial back to the queue without counting a
/// lost lease. Found by the chaos benchmark: every lease request of a sweep queued behind one such call.
/// </summary>
[Collection(nameof(SweepClusterTests))]
public sealed class BeginTests : IAsyncLifetime
{
    /// <summary>What the store does to the first write of each trial grain's running state (its Begin).</summary>
    enum Fault { None, StallFirst, FailEach }

    static volatile Fault _fault;
    static readonly ConcurrentDictionary<GrainId, bool> Hit = new();
    /// <summary>Less than the lease timeout: a begin that waits longer is taken for hung (the lease is renewed meanwhile).</summary>
    static readonly TimeSpan Stall = TimeSpan.FromSeconds(4);
    static int _completedWrites, _completedDuringStall = -1, _stalls;

    /// <summary>Writes of a running trial state stall (once, for <see cref="Stall"/>) or fail (once per trial), as a store
    /// timing out or a trial grain on a silo not yet declared dead would.</summary>
    sealed class WithSlowStorage : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => FaultyProcessStorage.Use(silo, async (grainId, state) =>
        {
            if (state is TrialGrainState { Status: TrialStatus.Completed }) Interlocked.Increment(ref _completedWrites);
            if (state is not TrialGrainState { Status: TrialStatus.Running }) return;
            if (_fault == Fault.StallFirst && Interlocked.Increment(ref _stalls) == 1)
            {
                var before = Volatile.Read(ref _completedWrites);
                await Task.Delay(Stall);
                Volatile.Write(ref _completedDuringStall, Volatile.Read(ref _completedWrites) - before);
            }
            else if (_fault == Fault.FailEach && Hit.TryAdd(grainId, true))
                throw new TimeoutException("test: storage write timed out");
        });
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<WithSlowStorage>(silos: 1);
    public async Task DisposeAsync()
    {
        _fault = Fault.None;
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_trial_grain_that_answers_late_holds_up_only_its_own_device()
    {
        const string id = "stalled-begin";
        (_completedWrites, _completedDuringStall, _stalls) = (0, -1, 0);
        _fault = Fault.StallFirst;
        var trials = SweepCluster.TinyTrials(8, steps: 5, firstSeed: 9300);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(60));
        Assert.Equal(8, done.Count(TrialStatus.Completed));
        Assert.True(done.FinishedAt - done.StartedAt > Stall, "the stall never happened");
        // The silo's other slot kept leasing and finishing trials while one Begin waited 4 s (before: every lease
        // request queued behind it in the coordinator's turn, and at most the one trial already running ended).
        Assert.True(_completedDuringStall >= 4, $"{_completedDuringStall} trials ended while one trial's begin stalled for {Stall.TotalSeconds} s");
        var records = await _cluster.Coordinator(id).GetResults();
        Assert.All(records, r => Assert.Equal(1, r.Attempts)); // a slow begin is not a lost lease
    }

    [Fact]
    public async Task A_begin_that_fails_queues_the_trial_again_without_counting_a_lost_lease()
    {
        const string id = "failed-begin";
        Hit.Clear();
        _fault = Fault.FailEach;
        var trials = SweepCluster.TinyTrials(6, steps: 5, firstSeed: 9400);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // No retries allowed: were a failed begin counted as a lost lease, every trial would fail.
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(60));
        _fault = Fault.None;
        Assert.Equal(6, done.Count(TrialStatus.Completed));
        Assert.True(sw.Elapsed < SweepCluster.LeaseTimeout, $"took {sw.Elapsed.TotalSeconds:0.0} s: a trial waited for its lease to expire");
        var records = await _cluster.Coordinator(id).GetResults();
        // Each trial's first attempt number was used by the lease whose begin failed; its second ran.
        Assert.All(records, r => Assert.Equal(2, r.Attempts));
    }
}
