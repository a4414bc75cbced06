using System.Collections.Concurrent;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.TestingHost;
using Orleans.Runtime.Hosting;

namespace Descent.Tests.Sweeps;

/// <summary>Faults found by a review of the orchestration, kept as regression tests; each names the contract it checks.</summary>
[Collection(nameof(SweepClusterTests))]
public sealed class CoordinatorReactivationTests : IAsyncLifetime
{
    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync(silos: 1);
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    /// <summary>Trials whose lengths differ, so that they end in an order other than the plan's.</summary>
    static IReadOnlyList<TrialSpec> MixedTrials(int count, long firstSeed) =>
        [.. Enumerable.Range(0, count).Select(i => new TrialSpec(new SyntheticTaskSpec(256, 4, 4, 1),
            new OptimizerSpec(OptimizerKind.Sgd, 0.01), new Budget(i % 2 == 0 ? 3000 : 20), firstSeed + i))];

    async Task Deactivate(string sweepId)
    {
        var management = _cluster.Grains.GetGrain<IManagementGrain>(0);
        await management.DeactivateGrain(_cluster.Coordinator(sweepId).GetGrainId());
    }

    /// <summary>The client journals the ended trials as it learns of them; a coordinator activated again (its silo
    /// lost, the grain collected) lists them anew in another order: trials.jsonl must still get each trial once.</summary>
    [Fact]
    public async Task The_journal_gets_each_trial_once_across_a_coordinator_reactivation()
    {
        const string id = "reorder";
        var trials = MixedTrials(12, firstSeed: 7000);
        var spec = new SweepSpec(id, trials, new RankMetric());
        await _cluster.Coordinator(id).Start(spec);
        var plan = Descent.Sweeps.SweepPlans.FromSpec(spec);
        var folder = Directory.CreateTempSubdirectory("descent-reorder-").FullName;
        try
        {
            using (var journal = Descent.Client.Output.TrialsJournal.Create(folder, id, plan))
            {
                var collector = new Descent.Client.Commands.ResultCollector(_cluster.Grains, _cluster.Coordinator(id), plan, id, journal);
                // Some short trials (odd indexes) ended before long ones earlier in the plan: the client journals them.
                await collector.CatchUp(await _cluster.WaitUntil(id, s => s.Ended >= 3, TimeSpan.FromSeconds(60)));
                // More trials end while the client is between two polls; then the coordinator is activated again.
                await _cluster.WaitUntil(id, s => s.Ended >= 6, TimeSpan.FromSeconds(60));
                await Deactivate(id);
                await collector.CatchUp(await _cluster.Coordinator(id).GetSnapshot());
                await collector.CatchUp(await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(90)));
                Assert.Equal(trials.Select(TrialIdentity.Of).Order(), collector.Records.Keys.Order());
            }
            var (_, lines) = Descent.Client.Output.TrialsJournal.Read(Path.Combine(folder, id, "trials.jsonl"));
            var journaled = lines.Select(l => l.Id).ToList();
            Assert.Equal(trials.Select(TrialIdentity.Of).Order(), journaled.Order()); // each once: none missing, none twice
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>A trial grain whose write of its result fails once (a storage timeout, Redis failover).</summary>
[Collection(nameof(SweepClusterTests))]
public sealed class FailedWriteTests : IAsyncLifetime
{
    static readonly ConcurrentDictionary<GrainId, bool> FailedOnce = new();
    static volatile bool _armed;

    /// <summary>The first write of an ended trial state of each trial grain throws (nothing written), as a store that
    /// times out would.</summary>
    sealed class WithFlakyStorage : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => FaultyProcessStorage.Use(silo, (grainId, state) =>
            _armed && state is TrialGrainState { Status: TrialStatus.Completed } && FailedOnce.TryAdd(grainId, true)
                ? throw new TimeoutException("breaker: storage write timed out")
                : Task.CompletedTask);
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<WithFlakyStorage>(silos: 1);
    public async Task DisposeAsync()
    {
        _armed = false;
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_failed_result_write_is_retried_and_the_result_persists()
    {
        const string id = "flaky-write";
        _armed = true;
        var trials = SweepCluster.TinyTrials(4, steps: 20, firstSeed: 9100);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric()));
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(90));
        var took = sw.Elapsed;
        _armed = false;
        Assert.Equal(SweepStatus.Done, done.Status);
        Assert.Equal(4, done.Count(TrialStatus.Completed));

        // Every trial grain's stored state must hold its result: collect the grains and read them back.
        var management = _cluster.Grains.GetGrain<IManagementGrain>(0);
        foreach (var t in trials)
            await management.DeactivateGrain(_cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Of(id, TrialIdentity.Of(t))).GetGrainId());
        await management.DeactivateGrain(_cluster.Coordinator(id).GetGrainId());
        var records = await Task.WhenAll(trials.Select(t => _cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Of(id, TrialIdentity.Of(t))).GetRecord()));
        var summaries = await Task.WhenAll(trials.Select(t => _cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Of(id, TrialIdentity.Of(t))).GetSummary(new RankMetric())));
        var results = await _cluster.Coordinator(id).GetResults();
        var snapshot = await _cluster.Coordinator(id).GetSnapshot();
        Assert.True(records.All(r => r is not null),
            $"sweep took {took.TotalSeconds:0.0} s; stored trial states after one failed write each: [{string.Join(", ", summaries.Select(s => $"{s.Status.Name()}@{s.Attempt}"))}]; "
            + $"records: {records.Count(r => r is not null)}/4; coordinator's results after reactivation: {results.Count}; its snapshot: {snapshot.Status.Name()}, ended {snapshot.Ended}, running {snapshot.Count(TrialStatus.Running)}");
        Assert.True(took < SweepCluster.LeaseTimeout, $"4 tiny trials took {took.TotalSeconds:0.0} s: each result reached the coordinator only when its lease expired");
    }
}

/// <summary>A trainer silent for a lease timeout (one long phase) is taken for hung and cancelled; when its phase ends
/// right then, its "cancelled" result must not become the trial's result: the trial runs again, and a sweep nobody
/// cancelled has no cancelled trial.</summary>
[Collection(nameof(SweepClusterTests))]
public sealed class HungTrainerReturnsTests : IAsyncLifetime
{
    const long SlowSeed = 8800;

    /// <summary>The first attempt of the trials with seeds from <see cref="SlowSeed"/> shows a sign of life, then is
    /// silent in one long phase that ends as soon as the worker cancels it (the real trainer then stops "cancelled
    /// before step 2").</summary>
    sealed class SlowPhaseRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            if (lease.Spec.Seed >= SlowSeed && lease.Attempt == 1)
            {
                heartbeat();
                cancellation.WaitHandle.WaitOne();
                return new TrialResult(TrialStatus.Cancelled, "cancelled before step 2", 1, 1, 1, 1, 0, 0, 0, 0, []);
            }
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    sealed class WithSlowPhaseRunner : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => silo.Services.AddSingleton<ITrialRunner>(sp =>
            new SlowPhaseRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<WithSlowPhaseRunner>(silos: 1);
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_trainer_taken_for_hung_is_placed_again_and_never_ends_its_uncancelled_sweep_as_cancelled()
    {
        const string id = "breaker-hung-returns";
        var trials = SweepCluster.TinyTrials(6, steps: 20, firstSeed: SlowSeed);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric()));
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(120));
        var ended = await _cluster.Ended(id);
        Assert.True(done.Status == SweepStatus.Done && done.Count(TrialStatus.Completed) == 6,
            $"sweep {done.Status.Name()}: " + string.Join("; ", ended.Select(s => $"{s.TrialId[..6]} {s.Status.Name()} attempt {s.Attempt} {s.Message}")));
    }
}
