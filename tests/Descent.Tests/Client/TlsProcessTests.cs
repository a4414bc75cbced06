using System.Diagnostics;
using Descent.Contracts.Trials;
using Descent.Results;
using Descent.Tests.Silo;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Client;

/// <summary>TLS with real descent-silo and descent-client processes on 127.0.0.1: a client whose certificate the
/// cluster's CA issued runs a sweep; one without TLS, without a certificate, with another CA's certificate or trusting
/// another CA is refused at once with a line saying which; silos form a cluster over mutual TLS and refuse a silo whose
/// certificate another CA issued.</summary>
[Collection(nameof(ClientProcessTests))]
public class TlsProcessTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>A refusal is said within this: five connection attempts a second apart and one diagnostic handshake,
    /// not the client's 60 s connection timeout.</summary>
    static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    const string Quick = """
        {"name": "tls sweep", "task": {"kind": "synthetic", "n_row": 200, "dim_in": 4, "dim_hidden": 4, "n_layers": 1, "seed": 3},
         "budget": {"steps": 20}, "parameters": {"optimizer": {"values": ["sgd", "adam"]}, "lr": {"value": 0.01}}}
        """;

    static RunningProcess Silo(string folder, int siloPort, int gateway, params string[] settings) =>
        Silo(folder, null, siloPort, gateway, settings);

    static RunningProcess Silo(string folder, IReadOnlyDictionary<string, string>? environment, int siloPort, int gateway, params string[] settings) =>
        RunningProcess.Launch("descent-silo.dll", folder, environment,
            ["--Descent:SiloPort=" + siloPort, "--Descent:GatewayPort=" + gateway, "--Descent:Devices:CpuSlots=1", "--Descent:ClusterId=tls", .. settings]);

    static string[] Tls(string certificate, string? key, string ca, string? clients = null) =>
    [
        "--Descent:Tls:CertificatePath=" + certificate, .. key is null ? Array.Empty<string>() : ["--Descent:Tls:KeyPath=" + key],
        "--Descent:Tls:CaPath=" + ca, .. clients is null ? Array.Empty<string>() : ["--Descent:Tls:ClientCertificate=" + clients],
    ];

    /// <summary>Runs descent-client against the gateway; returns its exit code, standard error and how long it took.</summary>
    static async Task<(int Exit, string Err, TimeSpan Took)> Client(string folder, int gateway, string output, params string[] tls)
    {
        var watch = Stopwatch.StartNew();
        var (exit, _, stderr) = await RunningProcess.RunClient(folder, Timeout,
            ["sweep", Path.Combine(folder, "grid.json"), "--out", output, "--cluster", $"127.0.0.1:{gateway}", "--cluster-id", "tls", .. tls]);
        Assert.DoesNotContain("   at ", stderr);
        return (exit, stderr, watch.Elapsed);
    }

    /// <summary>The one line saying why the client could not reach the cluster.</summary>
    static void AssertRefused((int Exit, string Err, TimeSpan Took) run, string folder, string output, string reason)
    {
        Assert.True(run.Exit == 1, $"exit {run.Exit}\n{run.Err}");
        Assert.True(run.Took < Prompt, $"took {run.Took}\n{run.Err}");
        var line = Assert.Single(run.Err.Split('\n'), l => l.Contains("cannot reach", StringComparison.Ordinal));
        Assert.Contains(reason, line);
        Assert.False(Directory.Exists(Path.Combine(folder, output)), "nothing is written for a sweep that never started");
    }

    [Fact]
    public async Task A_tls_silo_runs_a_sweep_for_a_trusted_client_and_refuses_clients_without_a_trusted_certificate()
    {
        var folder = Folder();
        Write(Quick, folder);
        var pki = new TestPki(Path.Combine(folder, "pki"));
        var other = new TestPki(Path.Combine(folder, "other"), "Other CA");
        var (siloCrt, siloKey) = pki.IssuePem("silo");
        var (clientCrt, clientKey) = pki.IssuePem("client", [TestPki.ClientAuth]);
        var (rogueCrt, rogueKey) = other.IssuePem("rogue", [TestPki.ClientAuth]);
        var gateway = RunningProcess.FreePort();
        using var silo = Silo(folder, RunningProcess.FreePort(), gateway, Tls(siloCrt, siloKey, pki.AuthorityPath));
        await silo.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);

        // The client's certificate from the cluster's CA: the sweep runs.
        var (exit, stderr, _) = await Client(folder, gateway, "trusted", "--tls-ca", pki.AuthorityPath, "--tls-cert", clientCrt, "--tls-key", clientKey);
        Assert.True(exit == 0, stderr);
        var results = ResultsJson.Read(File.ReadAllBytes(Path.Combine(Assert.Single(Directory.GetDirectories(Path.Combine(folder, "trusted"))), "results.json")));
        Assert.Equal([TrialStatus.Completed, TrialStatus.Completed], results.Trials.Select(t => t.Status));
        // status, leaderboard and cancel take the same options (here from the variables).
        var tlsVariables = new Dictionary<string, string> { ["DESCENT_TLS_CA"] = pki.AuthorityPath, ["DESCENT_TLS_CERT"] = clientCrt, ["DESCENT_TLS_KEY"] = clientKey };
        using (var board = RunningProcess.Launch("descent-client.dll", folder, tlsVariables, "leaderboard", results.Sweep.Id, "--json", "--cluster", $"127.0.0.1:{gateway}", "--cluster-id", "tls"))
        {
            Assert.True(await board.Exit(Timeout) == 0, board.Err);
            Assert.Equal(results.Trials.Select(t => t.Id).Order(), ResultsJson.Read(System.Text.Encoding.UTF8.GetBytes(board.Out)).Leaderboard.Select(e => e.Trial).Order());
        }

        // No TLS at all: the gateway speaks TLS, and the client says so.
        AssertRefused(await Client(folder, gateway, "plain"), folder, "plain",
            $"the gateway 127.0.0.1:{gateway} speaks TLS (its certificate: CN=silo, issued by CN=Descent Test CA): give the cluster's CA as --tls-ca");
        // TLS without a certificate, where the cluster requires one.
        AssertRefused(await Client(folder, gateway, "anonymous", "--tls-ca", pki.AuthorityPath), folder, "anonymous",
            $"the gateway 127.0.0.1:{gateway} requires a client certificate: give this client's certificate and key as --tls-cert and --tls-key");
        // A certificate another CA issued.
        AssertRefused(await Client(folder, gateway, "rogue", "--tls-ca", pki.AuthorityPath, "--tls-cert", rogueCrt, "--tls-key", rogueKey), folder, "rogue",
            $"the gateway 127.0.0.1:{gateway} refused this client's certificate (CN=rogue, issued by CN=Other CA)");
        // The client trusts another CA: the gateway's certificate is refused by the client, not accepted because it is a certificate.
        AssertRefused(await Client(folder, gateway, "distrust", "--tls-ca", other.AuthorityPath, "--tls-cert", clientCrt, "--tls-key", clientKey), folder, "distrust",
            $"the gateway 127.0.0.1:{gateway} presented a certificate CN=silo (issued by CN=Descent Test CA): it is not issued by a trusted CA; --tls-ca must be the CA that issued the cluster's certificates");
        await silo.WaitFor(o => o.Contains("TLS: refused a remote certificate CN=rogue (issued by CN=Other CA): it is not issued by a trusted CA"), Timeout, onStdout: true);

        // A certificate file that is not there: bad input, named, before anything is tried.
        var missing = Path.Combine(folder, "no-such.crt");
        var bad = await Client(folder, gateway, "bad", "--tls-ca", pki.AuthorityPath, "--tls-cert", missing, "--tls-key", clientKey);
        Assert.True(bad.Exit == 2, bad.Err);
        Assert.Equal($"descent-client: --tls-cert = \"{missing}\": no such file", bad.Err.Trim());
    }

    [Fact]
    public async Task Two_tls_silos_form_a_cluster_over_mutual_tls_and_refuse_a_silo_of_another_ca()
    {
        var folder = Folder();
        // Long enough trials (some 6 s each here) that both silos' single slots are busy at once (with 300 steps, 2 s each, a
        // clean-clone run once saw every trial on one silo).
        Write("""
            {"name": "tls cluster", "task": {"kind": "synthetic", "n_row": 2000, "dim_in": 8, "dim_hidden": 16, "n_layers": 2},
             "budget": {"steps": 1000}, "parameters": {"optimizer": {"values": ["sgd", "adam"]}, "lr": {"values": [0.01, 0.001]}}}
            """, folder);
        var pki = new TestPki(Path.Combine(folder, "pki"));
        var other = new TestPki(Path.Combine(folder, "other"), "Other CA");
        // The primary: a PKCS#12 file, its password from the environment; clients may come without a certificate.
        var primaryPfx = pki.IssuePfx("primary", "pfx-pass");
        // The second silo: issued by an intermediate CA, sent after its certificate; every silo trusts the root only.
        var (secondCrt, secondKey) = pki.Intermediate("Descent Intermediate CA").IssuePem("second");
        var (primaryPort, primaryGateway) = (RunningProcess.FreePort(), RunningProcess.FreePort());
        using var primary = Silo(folder, new Dictionary<string, string> { ["Descent__Tls__Password"] = "pfx-pass" }, primaryPort, primaryGateway,
            Tls(primaryPfx, null, pki.AuthorityPath, clients: "Optional"));
        await primary.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);
        var secondGateway = RunningProcess.FreePort();
        using var second = Silo(folder, RunningProcess.FreePort(), secondGateway,
            [.. Tls(secondCrt, secondKey, pki.AuthorityPath, clients: "None"), "--Descent:PrimarySiloPort=" + primaryPort]);
        await second.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);

        // A silo whose certificate another CA issued (it trusts both CAs, so it accepts the primary's) is refused.
        var (rogueCrt, rogueKey) = other.IssuePem("rogue-silo");
        var bothCas = Path.Combine(folder, "both-cas.crt");
        File.WriteAllLines(bothCas, [File.ReadAllText(pki.AuthorityPath), File.ReadAllText(other.AuthorityPath)]);
        using (var rogue = Silo(folder, RunningProcess.FreePort(), RunningProcess.FreePort(),
                   [.. Tls(rogueCrt, rogueKey, bothCas), "--Descent:PrimarySiloPort=" + primaryPort]))
            await primary.WaitFor(o => o.Contains("TLS: refused a remote certificate CN=rogue-silo (issued by CN=Other CA): it is not issued by a trusted CA"),
                Timeout, onStdout: true);

        // A client with the CA and no certificate of its own (the primary's gateway takes that): the trials run on both silos.
        var (exit, stderr, _) = await Client(folder, primaryGateway, "runs", "--tls-ca", pki.AuthorityPath);
        Assert.True(exit == 0, stderr);
        var results = ResultsJson.Read(File.ReadAllBytes(Path.Combine(Assert.Single(Directory.GetDirectories(Path.Combine(folder, "runs"))), "results.json")));
        Assert.All(results.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal(2, results.Trials.Select(t => t.Silo).Distinct().Count());

        // Optional is not "anything": a certificate another CA issued is still refused there.
        var (rogueClient, rogueClientKey) = other.IssuePem("rogue-client", [TestPki.ClientAuth]);
        AssertRefused(await Client(folder, primaryGateway, "rogue", "--tls-ca", pki.AuthorityPath, "--tls-cert", rogueClient, "--tls-key", rogueClientKey), folder, "rogue",
            $"the gateway 127.0.0.1:{primaryGateway} refused this client's certificate (CN=rogue-client, issued by CN=Other CA)");
        // The second silo's gateway asks for no certificate (None): the same client reads the leaderboard there, over TLS.
        var (boardExit, board, boardErr) = await RunningProcess.RunClient(folder, Timeout,
            "leaderboard", results.Sweep.Id, "--json", "--cluster", $"127.0.0.1:{secondGateway}", "--cluster-id", "tls", "--tls-ca", pki.AuthorityPath);
        Assert.True(boardExit == 0, boardErr);
        Assert.Equal(4, ResultsJson.Read(System.Text.Encoding.UTF8.GetBytes(board)).Leaderboard.Count);
    }

    [Fact]
    public async Task A_silo_with_unusable_tls_settings_exits_2_and_a_tls_client_of_a_plain_silo_is_told_so()
    {
        var folder = Folder();
        Write(Quick, folder);
        var pki = new TestPki(Path.Combine(folder, "pki"));
        var (crt, _) = pki.IssuePem("silo");
        var missing = Path.Combine(folder, "no-such.key");
        using (var silo = Silo(folder, RunningProcess.FreePort(), RunningProcess.FreePort(), Tls(crt, missing, pki.AuthorityPath)))
        {
            Assert.Equal(2, await silo.Exit(Timeout));
            Assert.Equal($"descent-silo: Descent:Tls:KeyPath = \"{missing}\": no such file", silo.Err.Trim());
            Assert.DoesNotContain("   at ", silo.Out + silo.Err);
        }

        var gateway = RunningProcess.FreePort();
        using var plain = Silo(folder, RunningProcess.FreePort(), gateway);
        await plain.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);
        var (clientCrt, clientKey) = pki.IssuePem("client", [TestPki.ClientAuth]);
        AssertRefused(await Client(folder, gateway, "runs", "--tls-ca", pki.AuthorityPath, "--tls-cert", clientCrt, "--tls-key", clientKey), folder, "runs",
            $"the gateway 127.0.0.1:{gateway} does not answer TLS: that cluster runs without TLS (no Descent:Tls settings), or this is not a Descent gateway; leave out --tls-ca");
    }
}
