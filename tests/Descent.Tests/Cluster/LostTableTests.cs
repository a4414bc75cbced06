using Descent.Testing;
using Xunit.Abstractions;

namespace Descent.Tests.Cluster;

/// <summary>
/// A Redis that comes back empty (restarted without persistence, a new volume): the membership table no longer has the
/// silos' rows, while Orleans' own snapshot still says "active". Each silo's readiness fails at its next read of the
/// table, a SIGTERM ends a silo within seconds (Orleans would retry writing its row for the whole shutdown timeout),
/// and a silo left alone exits 1 with one line once <c>Descent:Membership:LostAfter</c> has passed.
/// </summary>
[Collection(nameof(RealClusterTests))]
public sealed class LostTableTests(ITestOutputHelper output)
{
    readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    void Say(string what) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1} s] {what}");

    static async Task<(int Code, string Body)> Probe(HttpClient http, SiloProcess silo, int port, string path)
    {
        using var response = await http.GetAsync($"http://{silo.Address}:{port}{path}");
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Silos_whose_Redis_came_back_empty_turn_unready_stop_on_SIGTERM_within_seconds_and_exit_1_after_the_bound()
    {
        var folder = Path.Combine(Path.GetTempPath(), "descent-lost-table-" + Guid.NewGuid().ToString("N")[..8]);
        var port = RunningProcess.FreePort();
        using var cluster = await RealCluster.Start(folder, 2, "--Descent:Devices:CpuSlots=1", "--Descent:Devices:Cores=1",
            $"--Descent:Health:Port={port}", "--Descent:Membership:LostAfter=00:00:06");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        foreach (var silo in cluster.Silos)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await Probe(http, silo, port, "/healthz/ready")).Code != 200)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{silo.Name} never became ready");
                await Task.Delay(200);
            }
        }
        Say("both silos ready");
        // A client following a sweep of long trials through it all.
        var grid = Path.Combine(folder, "long.json");
        File.WriteAllText(grid, """
            {"name": "long", "task": {"kind": "synthetic", "n_row": 2000, "dim_in": 10, "dim_hidden": 10, "n_layers": 2, "seed": 1},
             "budget": {"steps": 100000}, "method": "grid", "parameters": {"optimizer": {"values": ["sgd", "adam"]}, "lr": {"value": 0.001}}}
            """);
        using var client = cluster.Client(["sweep", grid, "--out", "runs", .. cluster.ClientOptions]);
        await client.WaitFor(o => o.Contains(" running"), TimeSpan.FromSeconds(60));
        Say("sweep running");

        await cluster.Redis.Empty();
        var emptied = _clock.Elapsed;
        Say("Redis emptied");
        foreach (var silo in cluster.Silos)
        {
            var deadline = DateTime.UtcNow.AddSeconds(5);
            (int Code, string Body) ready;
            while ((ready = await Probe(http, silo, port, "/healthz/ready")).Code == 200)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{silo.Name} still ready 5 s after its table lost it:\n{ready.Body}");
                await Task.Delay(200);
            }
            Assert.Contains("membership table holds no row for this silo", ready.Body);
        }
        Say("both silos unready");

        // SIGTERM now: the silo cannot write "shutting down" into a table that lost it; it ends within its 5 s.
        var stopped = cluster.Silos[0];
        var termAt = _clock.Elapsed;
        stopped.Terminate();
        var (stopExit, stopErr) = await stopped.Exited(TimeSpan.FromSeconds(15));
        Say($"SIGTERMed silo exited {stopExit} after {(_clock.Elapsed - termAt).TotalSeconds:0.0} s: {stopErr.Trim()}");
        Assert.True(_clock.Elapsed - termAt < TimeSpan.FromSeconds(8), $"the SIGTERMed silo took {(_clock.Elapsed - termAt).TotalSeconds:0.0} s");

        // Left alone, the other fails liveness and exits 1 with one line once the bound (6 s) has passed.
        var alone = cluster.Silos[1];
        var (exit, err) = await alone.Exited(TimeSpan.FromSeconds(30));
        Say($"the other exited {exit} {(_clock.Elapsed - emptied).TotalSeconds:0.0} s after Redis was emptied: {err.Trim()}");
        Assert.Equal(1, exit);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("descent-silo: this silo is no longer a member of the cluster: the membership table holds no row for this silo", line);
        Assert.Contains("Descent:Membership:LostAfter", line);
        Assert.True(_clock.Elapsed - emptied < TimeSpan.FromSeconds(6 + 2 + 5 + 5), "the lost silo outlived its bound by more than a read and its stop");

        // Started again (its supervisor's job), it joins the empty table; the client, still retrying, finds a cluster
        // that holds nothing of its sweep and says where the sweep was kept, not a storage it does not use.
        await alone.Start();
        Say("silo started again");
        Assert.Equal(1, await client.Exit(TimeSpan.FromSeconds(90)));
        Say($"client: {client.Err.Trim()}");
        Assert.Contains($"the cluster's Redis at {cluster.Redis.Url["redis://".Length..]} holds nothing of sweep", client.Err);
        Assert.DoesNotContain("\"memory\"", client.Err);
    }

    [Fact]
    public async Task A_Redis_that_stalls_with_its_data_makes_a_silo_unready_for_a_while_not_exit()
    {
        var folder = Path.Combine(Path.GetTempPath(), "descent-stalled-table-" + Guid.NewGuid().ToString("N")[..8]);
        var port = RunningProcess.FreePort();
        using var cluster = await RealCluster.Start(folder, 1, "--Descent:Devices:CpuSlots=1", "--Descent:Devices:Cores=1",
            $"--Descent:Health:Port={port}", "--Descent:Membership:LostAfter=00:00:03");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var silo = cluster.Silos[0];
        async Task<int> Ready()
        {
            try { return (await Probe(http, silo, port, "/healthz/ready")).Code; }
            catch (HttpRequestException) { return 0; }
        }
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Ready() != 200) { Assert.True(DateTime.UtcNow < deadline, "never ready"); await Task.Delay(200); }

        // Five times the bound, and at least two reads that time out (5 s each): the silo must not be taken for lost.
        cluster.Redis.Freeze();
        Say("Redis frozen");
        var unready = false;
        for (var until = DateTime.UtcNow.AddSeconds(16); DateTime.UtcNow < until;)
        {
            unready |= await Ready() == 503;
            await Task.Delay(250);
        }
        cluster.Redis.Continue();
        Say($"Redis continued; the silo was unready meanwhile: {unready}");
        Assert.True(unready, "readiness did not fail while the table could not be read");
        deadline = DateTime.UtcNow.AddSeconds(20);
        while (await Ready() != 200)
        {
            Assert.True(silo.Running, $"the silo exited while its Redis stalled:\n{silo.Log}");
            Assert.True(DateTime.UtcNow < deadline, "not ready again 20 s after Redis continued");
            await Task.Delay(200);
        }
        Assert.True(silo.Running);
        Say("ready again");
    }
}
