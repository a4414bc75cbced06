using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Devices;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Descent.Tests.Sweeps;

// Building a DeviceInventory sets TorchSharp's process-wide thread count: keep it away from the engine tests,
// which compare trajectories computed moments apart.
[Collection(nameof(SweepClusterTests))]
public class RankingAndIdentityTests
{
    static readonly TrialSpec Spec = new(new SyntheticTaskSpec(10, 2, 2, 0), new OptimizerSpec(OptimizerKind.Sgd, 0.1), new Budget(3));

    /// <summary>A result whose step k starts at losses[k-1], one second and one gradient per step.</summary>
    static TrialRecord Record(string id, TrialStatus status, double final, params double[] losses) =>
        new(id, Spec, new TrialResult(status, null, final, Math.Min(final, losses.DefaultIfEmpty(final).Min()), losses.Length + 1, losses.Length, 0, 0, 0, losses.Length,
            [.. losses.Select((l, i) => new StepRecord(i + 1, l, i + 1.0, i + 1, i + 1))]), "silo", "cpu:0", 1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

    [Fact]
    public void Final_loss_ranks_lowest_first_with_diverged_and_cancelled_last()
    {
        var table = Leaderboard.Rank(new RankMetric(), [
            Record("a", TrialStatus.Completed, 0.5, 4, 2),
            Record("b", TrialStatus.Diverged, double.NaN, 4, 9),
            Record("c", TrialStatus.Completed, 0.1, 4, 1),
            Record("d", TrialStatus.Cancelled, 0.01, 4, 0.5),
        ]);
        Assert.Equal(["c", "a", "b", "d"], table.Rows.Select(r => r.TrialId));
        Assert.Equal([1, 2, 3, 4], table.Rows.Select(r => r.Rank));
        Assert.Equal(0.1, table.Rows[0].MetricValue);
        Assert.Null(table.Rows[2].MetricValue);
    }

    [Fact]
    public void Gradients_and_time_to_target_count_what_was_spent_before_the_loss_got_there()
    {
        // "fast": step 3 starts at 0.5 <= 1, after 2 gradient evaluations and 2 s (the end of step 2).
        // "slow": only its final loss (after step 4) reaches the target: 4 gradients, 4 s. "never": not at all.
        var fast = Record("fast", TrialStatus.Completed, 0.2, 8, 4, 0.5, 0.3);
        var slow = Record("slow", TrialStatus.Completed, 0.9, 8, 6, 4, 2);
        var never = Record("never", TrialStatus.Completed, 3, 8, 6, 4, 3.5);
        var grads = Leaderboard.Rank(new RankMetric(MetricKind.GradientsToTarget, 1), [never, slow, fast]);
        Assert.Equal(["fast", "slow", "never"], grads.Rows.Select(r => r.TrialId));
        Assert.Equal([2.0, 4.0, null], grads.Rows.Select(r => r.MetricValue));
        var time = Leaderboard.Rank(new RankMetric(MetricKind.TimeToTarget, 1), [never, slow, fast]);
        Assert.Equal([2.0, 4.0, null], time.Rows.Select(r => r.MetricValue));
        Assert.Contains(new RankMetric(MetricKind.TimeToTarget).Problems(), p => p.Field == "metric.target");

        // A trial whose loss met the target before any step (a target loss in the budget ends it there) spent nothing.
        var already = Record("already", TrialStatus.Completed, 0.5);
        Assert.Equal(0.0, new RankMetric(MetricKind.GradientsToTarget, 1).ValueOf(already.Result));
        Assert.Equal(0.0, new RankMetric(MetricKind.TimeToTarget, 1).ValueOf(already.Result));
    }

    [Fact]
    public void A_trial_id_derives_from_everything_that_decides_the_trajectory_and_nothing_else()
    {
        var id = TrialIdentity.Of(Spec);
        Assert.Equal(16, id.Length);
        Assert.Equal(id, TrialIdentity.Of(Spec with { }));
        // sgd ignores max_steps and scale_i: same trial.
        Assert.Equal(id, TrialIdentity.Of(Spec with { Optimizer = Spec.Optimizer with { MaxSteps = 99, ScaleI = 3 } }));
        Assert.NotEqual(id, TrialIdentity.Of(Spec with { Seed = 1 }));
        Assert.NotEqual(id, TrialIdentity.Of(Spec with { Optimizer = Spec.Optimizer with { Lr = 0.1000001 } }));
        Assert.NotEqual(id, TrialIdentity.Of(Spec with { Budget = new Budget(4) }));
        Assert.NotEqual(id, TrialIdentity.Of(Spec with { Task = new SyntheticTaskSpec(10, 2, 2, 1) }));
    }

    static DeviceInventory Inventory(int? cpuSlots, int trialsPerDevice = 1)
    {
        var silo = new LocalSilo(SiloAddress.New(System.Net.IPAddress.Loopback, 11111, 1));
        return new DeviceInventory(Options.Create(new DeviceOptions { CpuSlots = cpuSlots, TrialsPerDevice = trialsPerDevice, UseCuda = false }), silo, NullLogger<DeviceInventory>.Instance);
    }

    [Fact]
    public void A_device_slot_is_held_by_one_trial_until_that_trial_releases_it()
    {
        var devices = Inventory(cpuSlots: 2);
        Assert.Equal(["cpu:0", "cpu:1"], devices.Slots.Select(s => s.Name));
        Assert.All(devices.Slots, s => Assert.Equal("cpu", s.Device));
        var (a, b) = (devices.Slots[0], devices.Slots[1]);
        devices.Hold(a, "a");
        devices.Hold(b, "b");
        Assert.Equal(0, devices.Free);
        var e = Assert.Throws<InvalidOperationException>(() => devices.Hold(a, "c"));
        Assert.Contains("held by trial a", e.Message);
        devices.Release(a, "b"); // not b's to release
        Assert.Throws<InvalidOperationException>(() => devices.Hold(a, "c"));
        devices.Release(a, "a");
        devices.Hold(a, "c");
        Assert.Throws<InvalidOperationException>(() => devices.Hold(a with { Silo = "elsewhere" }, "d"));
    }

    [Fact]
    public void Sharing_a_device_is_opt_in()
    {
        var devices = Inventory(cpuSlots: 1, trialsPerDevice: 2);
        Assert.Equal(["cpu:0#0", "cpu:0#1"], devices.Slots.Select(s => s.Name));
        Assert.Throws<DeviceSettingsException>(() => Inventory(cpuSlots: 0));
    }

    internal sealed class LocalSilo(SiloAddress address) : ILocalSiloDetails
    {
        public string Name => "test";
        public string ClusterId => "test";
        public string DnsHostName => "localhost";
        public SiloAddress SiloAddress => address;
        public SiloAddress GatewayAddress => address;
    }
}
