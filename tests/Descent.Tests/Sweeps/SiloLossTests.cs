using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Tests.Sweeps;

[Collection(nameof(SweepClusterTests))]
public sealed class SiloLossTests : IAsyncLifetime
{
    SweepCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    async Task<(IReadOnlyList<TrialSpec> Trials, string Victim)> StartAndWaitForWorkOnVictim(string sweepId, int maxRetries = 2)
    {
        var trials = SweepCluster.TinyTrials(36, steps: 2500);
        await _cluster.Coordinator(sweepId).Start(new SweepSpec(sweepId, trials, new RankMetric(), maxRetries));
        var victim = _cluster.Cluster.SecondarySilos[0].SiloAddress.ToParsableString();
        await _cluster.WaitUntil(sweepId, s => s.Ended >= 2 && s.Running.Any(t => t.Silo == victim), TimeSpan.FromSeconds(60));
        return (trials, victim);
    }

    async Task AssertEveryTrialOnce(string sweepId, IReadOnlyList<TrialSpec> trials)
    {
        var done = await _cluster.WaitForEnd(sweepId, TimeSpan.FromSeconds(150)); // generous: CI machines may be slower
        Assert.Equal(SweepStatus.Done, done.Status);
        Assert.Equal(trials.Count, done.Count(TrialStatus.Completed));
        var results = await _cluster.Coordinator(sweepId).GetResults();
        Assert.Equal(trials.Select(TrialIdentity.Of).Order(), results.Select(r => r.TrialId).Order());
        Assert.All(results, r => Assert.Equal(TrialStatus.Completed, r.Result.Status));
        Assert.Contains(results, r => r.Attempts > 1);
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
    }

    [Fact]
    public async Task A_killed_silo_loses_no_trial_and_duplicates_none()
    {
        var (trials, _) = await StartAndWaitForWorkOnVictim("kill");
        await _cluster.Cluster.KillSiloAsync(_cluster.Cluster.SecondarySilos[0]);
        await AssertEveryTrialOnce("kill", trials);
    }

    [Fact]
    public async Task A_silo_shutting_down_hands_its_trials_back()
    {
        // No retries allowed: a silo scaling in is not the trials' fault, so handing them back counts no lost lease.
        var (trials, victim) = await StartAndWaitForWorkOnVictim("stop", maxRetries: 0);
        await _cluster.Cluster.StopSiloAsync(_cluster.Cluster.SecondarySilos[0]);
        await AssertEveryTrialOnce("stop", trials);
        var results = await _cluster.Coordinator("stop").GetResults();
        Assert.Contains(results, r => r.Attempts > 1 && r.Silo != victim);
    }

    [Fact]
    public async Task Losing_the_coordinators_silo_loses_no_trial_and_reruns_no_finished_one()
    {
        // A sweep whose coordinator lives on a silo the test can kill (activations are placed at random).
        var management = _cluster.Grains.GetGrain<IManagementGrain>(0);
        string sweepId;
        Orleans.TestingHost.SiloHandle? victim;
        var n = 0;
        do
        {
            sweepId = $"coordinator-lost-{n++}";
            await _cluster.Coordinator(sweepId).GetSpec(); // activates it
            var where = (await management.GetDetailedGrainStatistics())
                .Single(g => g.GrainId.Type.ToString()!.Contains("coordinator") && g.GrainId.Key.ToString() == sweepId).SiloAddress;
            victim = _cluster.Cluster.SecondarySilos.FirstOrDefault(s => s.SiloAddress == where);
        } while (victim is null && n < 30);
        Assert.NotNull(victim);

        var trials = SweepCluster.TinyTrials(24, steps: 1500);
        await _cluster.Coordinator(sweepId).Start(new SweepSpec(sweepId, trials, new RankMetric()));
        await _cluster.WaitUntil(sweepId, s => s.Ended >= 4, TimeSpan.FromSeconds(60));
        var endedBefore = await _cluster.Ended(sweepId);
        var recordsBefore = await _cluster.Coordinator(sweepId).GetResults();
        await _cluster.Cluster.KillSiloAsync(victim);

        // Rebuilt elsewhere from its trials, the sweep ends with every trial once, and each trial that had ended
        // before the kill kept its result: same attempt, same device, same times.
        var done = await _cluster.WaitForEnd(sweepId, TimeSpan.FromSeconds(150));
        Assert.Equal(SweepStatus.Done, done.Status);
        Assert.Equal(trials.Count, done.Count(TrialStatus.Completed));
        var results = await _cluster.Coordinator(sweepId).GetResults();
        Assert.Equal(trials.Select(TrialIdentity.Of).Order(), results.Select(r => r.TrialId).Order());
        Assert.True(endedBefore.Count >= 4);
        foreach (var before in recordsBefore)
        {
            var after = results.Single(r => r.TrialId == before.TrialId);
            Assert.Equal((before.Attempts, before.Silo, before.Device, before.StartedAt, before.FinishedAt),
                (after.Attempts, after.Silo, after.Device, after.StartedAt, after.FinishedAt));
        }
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
    }
}
