using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>
/// A coordinator activated again while a worker begins a trial it leased from the previous activation: the rebuilt
/// view, read from trial grains before that attempt began there, takes the worker's renewal of the newer attempt as the
/// trial's lease. It used to revoke it and then wait a lease timeout for an attempt nobody held (seen in CI: a trial ran
/// again 30 s after a silo's graceful stop moved its coordinator).
/// </summary>
[Collection(nameof(SweepClusterTests))]
public sealed class RebuildTests : IAsyncLifetime
{
    /// <summary>Trials that show life for 5 s before they train: the silo's slots stay busy, and since none has ended they
    /// lease nothing ahead, so the test's own lease request is the only one while they run.</summary>
    sealed class BusyRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            SweepCluster.ShowLifeFor(TimeSpan.FromSeconds(5), heartbeat, cancellation);
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    sealed class Busy : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) =>
            silo.Services.AddSingleton<ITrialRunner>(sp => new BusyRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<Busy>(silos: 1);
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_rebuilt_coordinator_takes_a_newer_attempt_a_worker_renews_as_the_trials_lease()
    {
        const string id = "rebuild-newer";
        var trials = SweepCluster.TinyTrials(SweepCluster.SlotsPerSilo + 2, steps: 5, firstSeed: 16000);
        var coordinator = _cluster.Coordinator(id);
        await coordinator.Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        await _cluster.WaitUntil(id, s => s.Running.Count == SweepCluster.SlotsPerSilo, TimeSpan.FromSeconds(30));

        // The test is a worker of another silo: it leases a queued trial from this activation ...
        const string silo = "127.0.0.1:1@1";
        var slot = new DeviceSlot(silo, 0, "cpu", "cpu:0");
        var lease = Assert.IsType<TrialLease>(await coordinator.Lease(slot));
        // ... the coordinator is activated again before the attempt begins at the trial grain (it reads the trial queued) ...
        await _cluster.Grains.GetGrain<IManagementGrain>(0).DeactivateGrain(coordinator.GetGrainId());
        Assert.Equal(SweepCluster.SlotsPerSilo, (await coordinator.GetSnapshot()).Running.Count);
        // ... and then the attempt begins, and is renewed.
        Assert.Null(await _cluster.Grains.GetGrain<ITrialGrain>(lease.TrialKey).Begin(lease.Spec, lease.Attempt, slot, lease.Metric));
        var reply = await coordinator.Renew(silo, [new LeaseRenewal(lease.TrialId, lease.Attempt, slot, 1, null, TimeSpan.Zero)]);
        Assert.Empty(reply.Revoked ?? []);
        var snapshot = await coordinator.GetSnapshot();
        var held = Assert.Single(snapshot.Running, t => t.TrialId == lease.TrialId);
        Assert.Equal((lease.Attempt, slot.Name, silo), (held.Attempt, held.Device, held.Silo));

        // It ends as the trial's result; the rest of the sweep runs on.
        var record = new TrialRecord(lease.TrialId, lease.Spec, new TrialResult(TrialStatus.Completed, null, 0.5, 0.5, 1, 1, 0, 0, 0, 0, []),
            silo, slot.Name, lease.Attempt, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
        Assert.True(await _cluster.Grains.GetGrain<ITrialGrain>(lease.TrialKey).Finish(record));
        await coordinator.Ended(TrialSummary.Of(record, lease.Metric));
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(60));
        Assert.Equal(trials.Count, done.Count(TrialStatus.Completed));
    }
}
