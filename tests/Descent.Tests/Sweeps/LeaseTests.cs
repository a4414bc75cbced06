using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Descent.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>Leases: a trainer that hangs loses its lease and its trial is placed again; the hung device is not given
/// another trial until its thread returns; the late result of the expired attempt is ignored.</summary>
[Collection(nameof(SweepClusterTests))]
public sealed class LeaseTests : IAsyncLifetime
{
    const long HangSeed = 4242;
    static readonly ManualResetEventSlim Unblock = new(false);
    static DateTime? _hungAt;

    /// <summary>The silo's runner, except that the first attempt of the trial with seed <see cref="HangSeed"/> blocks,
    /// deaf to cancellation and with no sign of life, until the test unblocks it; then it trains as usual.</summary>
    sealed class HangingRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            if (lease.Spec.Seed == HangSeed && lease.Attempt == 1)
            {
                _hungAt = DateTime.UtcNow;
                Unblock.Wait();
            }
            return real.Run(lease, onStep, heartbeat, CancellationToken.None, handedBack);
        }
    }

    sealed class WithHangingRunner : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => silo.Services.AddSingleton<ITrialRunner>(sp =>
            new HangingRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
    }

    SweepCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        Unblock.Reset();
        _hungAt = null;
        _cluster = await SweepCluster.StartAsync<WithHangingRunner>(silos: 1);
    }

    public async Task DisposeAsync()
    {
        Unblock.Set();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_hung_trainer_loses_its_lease_and_its_trial_runs_again_elsewhere_exactly_once()
    {
        var hanging = SweepCluster.TinyTrials(1, steps: 20, firstSeed: HangSeed)[0];
        var hangingId = TrialIdentity.Of(hanging);
        var others = SweepCluster.TinyTrials(8, steps: 20);
        await _cluster.Coordinator("hang").Start(new SweepSpec("hang", [hanging, .. others], new RankMetric()));

        // While it hangs, the snapshot shows it running on its slot.
        var hungOn = (await _cluster.WaitUntil("hang", s => s.Running.Any(t => t.TrialId == hangingId && t.Attempt == 1), TimeSpan.FromSeconds(30)))
            .Running.Single(t => t.TrialId == hangingId).Device;

        // Detected within the lease timeout (plus the coordinator's one-second check and a renewal): placed again.
        var again = await _cluster.WaitUntil("hang", s => s.Running.Any(t => t.TrialId == hangingId && t.Attempt == 2)
            || s.Ended == s.TrialCount, TimeSpan.FromSeconds(60));
        var detected = DateTime.UtcNow - _hungAt!.Value;
        Assert.True(detected < SweepCluster.LeaseTimeout + TimeSpan.FromSeconds(4), $"placed again after {detected.TotalSeconds:0.0} s");

        var done = await _cluster.WaitForEnd("hang", TimeSpan.FromSeconds(60));
        Assert.Equal(SweepStatus.Done, done.Status);
        Assert.Equal(9, done.Count(TrialStatus.Completed));
        var results = await _cluster.Coordinator("hang").GetResults();
        var retried = results.Single(r => r.TrialId == hangingId);
        Assert.Equal(2, retried.Attempts);
        // The hung slot took no other trial while its thread was blocked: everything ran on the other one.
        Assert.All(results, r => Assert.NotEqual(hungOn, r.Device));
        SweepCluster.AssertNoDeviceSharedAtOnce(results);

        // The blocked thread returns: its attempt's result is ignored, and its slot works again.
        Unblock.Set();
        var later = SweepCluster.TinyTrials(6, steps: 200, firstSeed: 500);
        await _cluster.Coordinator("after").Start(new SweepSpec("after", later, new RankMetric()));
        await _cluster.WaitForEnd("after", TimeSpan.FromSeconds(60));
        Assert.Contains(await _cluster.Coordinator("after").GetResults(), r => r.Device == hungOn);
        var final = (await _cluster.Coordinator("hang").GetResults()).Single(r => r.TrialId == hangingId);
        Assert.Equal((2, retried.Device, retried.StartedAt, retried.FinishedAt), (final.Attempts, final.Device, final.StartedAt, final.FinishedAt));
    }
}
