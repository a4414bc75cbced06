using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Tests.Sweeps;

[Collection(nameof(SweepClusterTests))]
public sealed class SweepTests(SharedSweepCluster shared)
{
    readonly SweepCluster _cluster = shared.Cluster;

    static SweepSpec Sweep(string name, IReadOnlyList<TrialSpec> trials) => new(name, trials, new RankMetric());

    [Fact]
    public async Task A_sweep_runs_every_trial_once_across_silos_and_ranks_them()
    {
        var trials = SweepCluster.TinyTrials(30);
        var started = await _cluster.Coordinator("s1").Start(Sweep("thirty", trials));
        Assert.Equal(30, started.TrialCount);
        Assert.Equal(3 * SweepCluster.SlotsPerSilo, (await _cluster.Coordinator("s1").GetSnapshot()).ClusterDevices);

        var done = await _cluster.WaitForEnd("s1", TimeSpan.FromSeconds(90));
        Assert.Equal(SweepStatus.Done, done.Status);
        Assert.Equal(30, done.Count(TrialStatus.Completed));
        Assert.NotNull(done.FinishedAt);

        var results = await _cluster.Coordinator("s1").GetResults();
        Assert.Equal(trials.Select(TrialIdentity.Of).Order(), results.Select(r => r.TrialId).Order());
        Assert.All(results, r => Assert.Equal(TrialStatus.Completed, r.Result.Status));
        Assert.True(results.Select(r => r.Silo).Distinct().Count() > 1, "every trial ran on one silo");
        SweepCluster.AssertNoDeviceSharedAtOnce(results);

        var table = await _cluster.Coordinator("s1").GetTable(new RankMetric());
        Assert.Equal(Enumerable.Range(1, 30), table.Rows.Select(r => r.Rank));
        Assert.Equal(table.Rows.Select(r => r.FinalLoss).Order(), table.Rows.Select(r => r.FinalLoss));

        // Submitting the same sweep again changes nothing.
        var again = await _cluster.Coordinator("s1").Start(Sweep("thirty", trials));
        Assert.Equal(SweepStatus.Done, again.Status);
        Assert.Equal(30, (await _cluster.Coordinator("s1").GetResults()).Count);
    }

    [Fact]
    public async Task Failed_and_diverged_trials_end_the_sweep_normally_and_are_not_retried()
    {
        var good = SweepCluster.TinyTrials(4);
        var diverging = new TrialSpec(new SyntheticTaskSpec(256, 10, 10, 5), new OptimizerSpec(OptimizerKind.Sgd, 10), new Budget(200));
        var failing = new TrialSpec(new CsvTaskSpec("/nonexistent/data.csv", "y"), new OptimizerSpec(OptimizerKind.Sgd, 0.1), new Budget(5));
        await _cluster.Coordinator("s2").Start(Sweep("mixed", [.. good, diverging, failing]));
        var done = await _cluster.WaitForEnd("s2", TimeSpan.FromSeconds(60));
        Assert.Equal(SweepStatus.Done, done.Status);
        Assert.Equal(4, done.Count(TrialStatus.Completed));
        Assert.Equal(1, done.Count(TrialStatus.Diverged));
        Assert.Equal(1, done.Count(TrialStatus.Failed));
        var failed = (await _cluster.Ended("s2")).Single(t => t.Status == TrialStatus.Failed);
        Assert.Equal(1, failed.Attempt);
        Assert.Contains("no such file", failed.Message);
        var table = await _cluster.Coordinator("s2").GetTable(new RankMetric());
        Assert.Equal(6, table.Rows.Count);
        Assert.Equal(TrialStatus.Completed, table.Rows[0].Status);
    }

    [Fact]
    public async Task Cancelling_stops_running_trials_and_keeps_finished_results()
    {
        var quick = SweepCluster.TinyTrials(3, steps: 5);
        var slow = SweepCluster.TinyTrials(20, steps: 1_000_000, firstSeed: 100);
        await _cluster.Coordinator("s3").Start(Sweep("cancel me", [.. quick, .. slow]));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        SweepSnapshot snapshot;
        do
        {
            await Task.Delay(200);
            snapshot = await _cluster.Coordinator("s3").GetSnapshot();
        } while (snapshot.Count(TrialStatus.Completed) < 3 && DateTime.UtcNow < deadline);
        Assert.Equal(3, snapshot.Count(TrialStatus.Completed));
        Assert.True(snapshot.Count(TrialStatus.Running) > 0);

        var cancelled = await _cluster.Coordinator("s3").Cancel();
        Assert.Equal(SweepStatus.Cancelled, cancelled.Status);
        var ended = await _cluster.WaitForEnd("s3", TimeSpan.FromSeconds(30));
        Assert.Equal(3, ended.Count(TrialStatus.Completed));
        Assert.Equal(20, ended.Count(TrialStatus.Cancelled));

        var results = await _cluster.Coordinator("s3").GetResults();
        Assert.Equal(quick.Select(TrialIdentity.Of).Order(), results.Where(r => r.Result.Status == TrialStatus.Completed).Select(r => r.TrialId).Order());
        // Running trials keep their partial history; one held ready that its slot took up just as the cancel came stops
        // "before step 1", with none (seen in a clean-clone run).
        var cut = results.Where(r => r.Result.Status == TrialStatus.Cancelled).ToList();
        Assert.Contains(cut, r => r.Result.History.Count > 0);
        Assert.All(cut, r => Assert.True(r.Result.History.Count > 0 || r.Result.Message == "cancelled before step 1", $"{r.TrialId}: {r.Result.Message}"));
    }

    [Fact]
    public async Task Two_sweeps_at_once_share_the_devices_without_mixing_results()
    {
        var a = SweepCluster.TinyTrials(12, steps: 40);
        var b = SweepCluster.TinyTrials(12, steps: 40, firstSeed: 1000);
        await Task.WhenAll(_cluster.Coordinator("a").Start(Sweep("a", a)), _cluster.Coordinator("b").Start(Sweep("b", b)));
        await Task.WhenAll(_cluster.WaitForEnd("a", TimeSpan.FromSeconds(90)), _cluster.WaitForEnd("b", TimeSpan.FromSeconds(90)));
        var ra = await _cluster.Coordinator("a").GetResults();
        var rb = await _cluster.Coordinator("b").GetResults();
        Assert.Equal(a.Select(TrialIdentity.Of).Order(), ra.Select(r => r.TrialId).Order());
        Assert.Equal(b.Select(TrialIdentity.Of).Order(), rb.Select(r => r.TrialId).Order());
        SweepCluster.AssertNoDeviceSharedAtOnce([.. ra, .. rb]);
    }

    [Fact]
    public async Task An_invalid_sweep_is_refused_with_every_problem_named()
    {
        var bad = new TrialSpec(new SyntheticTaskSpec(0, 3, 3, 1), new OptimizerSpec(OptimizerKind.Sgd, -1), new Budget(5));
        var e = await Assert.ThrowsAsync<SpecException>(() => _cluster.Coordinator("bad").Start(Sweep("bad", [bad])));
        Assert.Contains("trials[0].task.n_row = 0", e.Message);
        Assert.Contains("trials[0].lr = -1", e.Message);
    }
}

[CollectionDefinition(nameof(SweepClusterTests), DisableParallelization = true)]
public sealed class SweepClusterTests : ICollectionFixture<SharedSweepCluster>;
