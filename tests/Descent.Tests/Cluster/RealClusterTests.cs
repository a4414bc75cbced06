using Descent.Client.Output;
using Descent.Contracts.Trials;
using Descent.Results;
using Descent.Tests.Client;
using Xunit.Abstractions;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Cluster;

[CollectionDefinition(nameof(RealClusterTests), DisableParallelization = true)]
public sealed class RealClusterCollection;

/// <summary>
/// Three descent-silo processes with Redis membership, storage and reminders, the real descent-client, and real
/// failures: SIGKILL, SIGSTOP, and the whole cluster (Redis too) killed and started again. Every trial ends exactly
/// once: one result each, on disk once, and no trial that had ended is run again.
/// </summary>
[Collection(nameof(RealClusterTests))]
public sealed class RealClusterTests(ITestOutputHelper output)
{
    readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    void Say(string what) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1} s] {what}");

    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    /// <summary>24 short trials (150 steps of a small network: a quarter of a second to a second each, by machine).</summary>
    const string Many = """
        {"name": "many", "task": {"kind": "synthetic", "n_row": 2000, "dim_in": 10, "dim_hidden": 10, "n_layers": 2, "seed": 1},
         "budget": {"steps": 150}, "method": "grid", "repeats": 2,
         "parameters": {"optimizer": {"values": ["sgd", "adam"]}, "lr": {"values": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05]}}}
        """;

    const int ManyTrials = 24;

    /// <summary>Short leases, so a hung silo's trials move within seconds; one CPU slot a silo, on one core (three silos
    /// share this machine's cores).</summary>
    static readonly string[] SiloSettings = ["--Descent:Devices:CpuSlots=1", "--Descent:Devices:Cores=1", "--Descent:Leases:Timeout=00:00:05", "--Descent:Leases:RenewEvery=00:00:00.500"];

    static string SweepFolder(string folder) => Assert.Single(Directory.GetDirectories(Path.Combine(folder, "runs")));

    static async Task<int> JournalLines(string folder)
    {
        var runs = Path.Combine(folder, "runs");
        if (!Directory.Exists(runs) || Directory.GetDirectories(runs) is not [var sweep]) return 0;
        var journal = Path.Combine(sweep, "trials.jsonl");
        if (!File.Exists(journal)) return 0;
        await using var stream = new FileStream(journal, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1;
    }

    static async Task WaitForEnded(string folder, int trials, RunningProcess client)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (await JournalLines(folder) < trials)
        {
            if (client.HasExited) throw new InvalidOperationException($"the client exited first:\n{client.Out}\n{client.Err}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{trials} trials did not end in time:\n{client.Err}");
            await Task.Delay(100);
        }
    }

    /// <summary>The finished sweep's results: every trial completed, each once in results.json and in trials.jsonl.</summary>
    static ResultsDocument EveryTrialOnce(string folder, int trials)
    {
        var sweep = SweepFolder(folder);
        var results = ResultsJson.Read(File.ReadAllBytes(Path.Combine(sweep, "results.json")));
        Assert.Equal(trials, results.Trials.Count);
        Assert.All(results.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal(trials, results.Trials.Select(t => t.Id).Distinct().Count());
        var (_, journaled) = TrialsJournal.Read(Path.Combine(sweep, "trials.jsonl"));
        Assert.Equal(results.Trials.Select(t => t.Id).Order(), journaled.Select(t => t.Id).Order());
        return results;
    }

    static string Logs(RealCluster cluster, RunningProcess client) =>
        $"client:\n{client.Out}\n{client.Err}\n" + string.Join("\n", cluster.Silos.Select(s => $"{s.Name} (running: {s.Running})"));

    /// <summary>The real descent-client sweeping <see cref="Many"/> on the cluster, once <paramref name="ended"/> of its
    /// trials have ended.</summary>
    async Task<RunningProcess> SweepUntil(RealCluster cluster, int ended, string grid = Many)
    {
        var client = cluster.Client(["sweep", Write(grid, cluster.Folder), "--out", "runs", .. cluster.ClientOptions]);
        try
        {
            await WaitForEnded(cluster.Folder, ended, client);
        }
        catch
        {
            client.Dispose();
            throw;
        }
        Say($"{ended} trials ended");
        return client;
    }

    /// <summary>Waits for the client to finish the sweep (exit code 0), and checks that every trial ended once.</summary>
    async Task<ResultsDocument> Finished(RealCluster cluster, RunningProcess client)
    {
        Assert.True(await client.Exit(Timeout) == 0, Logs(cluster, client));
        Say("sweep done");
        return EveryTrialOnce(cluster.Folder, ManyTrials);
    }

    /// <summary>Does <paramref name="how"/> to <paramref name="silo"/> and waits until the cluster declares it dead; when it was done.</summary>
    async Task<DateTimeOffset> Lose(RealCluster cluster, SiloProcess silo, string what, Func<Task> how)
    {
        Say($"{what}: {silo.Name}");
        var at = DateTimeOffset.UtcNow;
        await how();
        var dead = await cluster.DeclaredDead(silo, Timeout);
        Say($"{silo.Name} declared dead {(dead - at).TotalSeconds:F1} s after {what}");
        return at;
    }

    async Task<DateTimeOffset> Lose(RealCluster cluster, SiloProcess silo, string what, Action how) =>
        await Lose(cluster, silo, what, () =>
        {
            how();
            return Task.CompletedTask;
        });

    [Fact]
    public async Task A_silo_killed_mid_sweep_loses_no_trial_and_runs_none_twice()
    {
        var folder = Folder();
        using var cluster = await RealCluster.Start(folder, 3, SiloSettings);
        Say("cluster started");
        using var client = await SweepUntil(cluster, 3);
        await Lose(cluster, cluster.Silos[1], "SIGKILL", () => cluster.Silos[1].Kill());

        var results = await Finished(cluster, client);
        // The killed silo's trial was placed again.
        Assert.Contains(results.Trials, t => t.Attempts >= 2);
    }

    [Fact]
    public async Task In_network_namespaces_a_silo_whose_link_goes_down_loses_no_trial_and_runs_none_twice()
    {
        Assert.True(NamespaceNetwork.Available, "network namespaces need root and iproute2 (.ci/run installs it)");
        var folder = Folder();
        var network = NamespaceNetwork.Create(3);
        using var cluster = await RealCluster.Start(folder, network, 3, SiloSettings);
        Say("cluster started, a host per silo");
        using var client = await SweepUntil(cluster, 3);
        await Lose(cluster, cluster.Silos[1], "its link down", () => network.LinkDown(1));

        var results = await Finished(cluster, client);
        Assert.Contains(results.Trials, t => t.Attempts >= 2);
    }

    [Fact]
    public async Task A_silo_frozen_longer_than_its_lease_has_its_trials_placed_again_exactly_once()
    {
        var folder = Folder();
        using var cluster = await RealCluster.Start(folder, 3, SiloSettings);
        Say("cluster started");
        using var client = await SweepUntil(cluster, 3);
        var frozen = cluster.Silos[2];
        var frozenAt = await Lose(cluster, frozen, "SIGSTOP", frozen.Freeze);
        var lease = TimeSpan.FromSeconds(6) - (DateTimeOffset.UtcNow - frozenAt);
        if (lease > TimeSpan.Zero) await Task.Delay(lease); // longer than the 5 s lease
        frozen.Continue();
        Say("silo continued");
        // It learns that it was declared dead at its next read of the membership table (10 s) and stops.
        await frozen.Exited(TimeSpan.FromSeconds(30));
        Say("the silo that was declared dead stopped");

        var results = await Finished(cluster, client);
        Assert.Contains(results.Trials, t => t.Attempts >= 2);
    }

    [Fact]
    public async Task The_whole_cluster_killed_and_started_again_finishes_the_sweep_without_rerunning_a_trial()
    {
        var folder = Folder();
        using var cluster = await RealCluster.Start(folder, 3, SiloSettings);
        Say("cluster started");
        var ended = new Dictionary<string, TrialEntry>();
        string sweepId;
        using (var client = await SweepUntil(cluster, 6))
        {
            Say("killing everything");
            // Everything at once, the client too: silos, Redis (its append-only file is all that is left).
            client.Signal(9);
            await Task.WhenAll(cluster.Silos.Select(s => s.Kill()).Append(cluster.Redis.Kill()));
            await client.Exit(TimeSpan.FromSeconds(10));
            var (header, journaled) = TrialsJournal.Read(Path.Combine(SweepFolder(folder), "trials.jsonl"));
            sweepId = header.Id;
            foreach (var trial in journaled) ended[trial.Id] = trial;
        }
        Assert.InRange(ended.Count, 6, ManyTrials - 1);

        Say($"{ended.Count} trials had ended; starting Redis again, and three silos on new addresses");
        await cluster.Redis.Start();
        // New hosts (as pods that come back with new IP addresses): the dead silos' rows still say active, and are
        // passed over once stale.
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => cluster.AddSilo()));
        Say("cluster started again");

        // Nobody resubmits or follows it: the silos' reminder wakes the sweep, and status finds it.
        var deadline = DateTime.UtcNow + Timeout;
        string status;
        while (true)
        {
            var (exit, stdout, stderr) = await RunningProcess.RunClient(folder, Timeout, ["status", sweepId, .. cluster.ClientOptions]);
            Assert.True(exit == 0, $"status: {exit}\n{stdout}\n{stderr}");
            status = stdout;
            if (status.Contains($"{ManyTrials}/{ManyTrials} done")) break;
            Assert.True(DateTime.UtcNow < deadline, $"the sweep did not finish after the restart:\n{status}");
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        Say("sweep done");
        Assert.Contains($"{ManyTrials}/{ManyTrials} done ({ManyTrials} completed)", status);

        var (code, json, err) = await RunningProcess.RunClient(folder, Timeout, ["leaderboard", sweepId, "--json", .. cluster.ClientOptions]);
        Assert.True(code == 0, err);
        var after = ResultsJson.Read(System.Text.Encoding.UTF8.GetBytes(json));
        Assert.Equal(ManyTrials, after.Trials.Count);
        Assert.All(after.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        // The attempt records: a trial that had ended before the kill kept its attempt and its result.
        foreach (var trial in after.Trials.Where(t => ended.ContainsKey(t.Id)))
        {
            var before = ended[trial.Id];
            Assert.Equal(before.Attempts, trial.Attempts);
            Assert.Equal(before.FinalLoss, trial.FinalLoss);
            Assert.Equal(before.FinishedAt, trial.FinishedAt);
        }
    }

    [Fact]
    public async Task A_silo_that_joins_gets_work_at_once_one_that_leaves_hands_back_at_once_and_busy_silos_stay_members()
    {
        var folder = Folder();
        // Every core training (two slots on each silo of a two-core machine), and leases of 30 s, so that a trial
        // placed again within seconds was handed back, not expired.
        using var cluster = await RealCluster.Start(folder, 1, "--Descent:Devices:CpuSlots=2", "--Descent:Leases:Timeout=00:00:30");
        Say("one silo started");
        // Trials four times as long as Many's: the sweep must outlast the second silo's start
        // (about 3 s) by far, or it ends on the first silo before the second has joined (seen in CI).
        using var client = await SweepUntil(cluster, 1, Many.Replace("\"steps\": 150", "\"steps\": 600", StringComparison.Ordinal));

        var joined = await cluster.AddSilo();
        var joinedAt = DateTimeOffset.UtcNow;
        var endedAtJoin = await JournalLines(folder);
        Say($"a second silo started; {endedAtJoin} trials had ended");
        Assert.True(endedAtJoin <= 2 * ManyTrials / 3, $"{endedAtJoin} of {ManyTrials} trials ended before the second silo was up: too few left to show it joins");
        await WaitForEnded(folder, Math.Max(8, endedAtJoin + 2), client);

        var leaving = cluster.Silos[0];
        Say($"{await JournalLines(folder)} trials ended; stopping the first silo");
        var leftAt = DateTimeOffset.UtcNow;
        Assert.Equal(0, await leaving.Stop(TimeSpan.FromSeconds(30)));
        Say("the first silo stopped gracefully");

        var results = await Finished(cluster, client);
        var onJoined = results.Trials.Where(t => t.Silo?.Contains(joined.Address.ToString(), StringComparison.Ordinal) == true).ToList();
        Assert.True(onJoined.Count > 0, $"no trial ran on the joined silo {joined.Address}:\n{Logs(cluster, client)}\n{leaving.Log}\n{joined.Log}");
        var firstWork = onJoined.Min(t => t.StartedAt!.Value) - joinedAt;
        Say($"the joined silo's first trial started {firstWork.TotalSeconds:F1} s after it was up");
        Assert.True(firstWork < TimeSpan.FromSeconds(10), $"first trial on the joined silo {firstWork} after it started");
        // The trials the leaving silo was running were handed back: run again, well before their lease ran out. (Before
        // the stop, an idle slot of either silo may have taken trials the other held ready: second leases too.)
        var handedBack = results.Trials.Where(t => t.Attempts >= 2 && t.StartedAt >= leftAt).ToList();
        Assert.NotEmpty(handedBack);
        foreach (var trial in handedBack)
        {
            Assert.Contains(joined.Address.ToString(), trial.Silo);
            Assert.True(trial.StartedAt!.Value - leftAt < TimeSpan.FromSeconds(20),
                $"{trial.Id} started again {trial.StartedAt - leftAt} after the stop:\n{leaving.Log}\n{joined.Log}");
        }
        // No silo was suspected of being dead by another while every core trained (a silo that stops votes itself dead).
        var members = await cluster.MembershipRows();
        Assert.Equal(2, members.Count);
        foreach (var member in members) Assert.All(member.Voters, voter => Assert.Equal(member.Silo, voter));
    }
}
