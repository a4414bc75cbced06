using System.CommandLine;
using Descent.Client.Cluster;
using Descent.Client.Commands;
using Descent.Contracts.Trials;
using Descent.Sweeps;

// descent-client: runs hyper-parameter sweeps of Descent's optimizers, on an embedded silo (default) or a cluster.
// Exit codes: 0 done, 1 runtime failure, 2 bad input, 130 cancelled.

// Ctrl-C and SIGTERM until the process has exited: no signal ends it from its handler (see StopRequests).
var stops = StopRequests.Listen();

var cluster = new Option<string?>("--cluster")
{
    Description = $"A running cluster: its Redis, redis://host:port, or its gateways, host:port[,host:port...] (default: ${ClusterTarget.ClusterVariable}; none: an embedded silo in this process)",
    HelpName = "host:port",
};
var clusterId = new Option<string?>("--cluster-id")
{
    Description = $"The cluster's id (default: ${ClusterTarget.ClusterIdVariable}, else \"descent\")",
};
var tlsCert = new Option<string?>("--tls-cert")
{
    Description = $"This client's certificate for a TLS cluster: a PEM file (tls.crt) or a PKCS#12 file (password: ${ClientTls.PasswordVariable}) (default: ${ClientTls.CertificateVariable})",
    HelpName = "FILE",
};
var tlsKey = new Option<string?>("--tls-key") { Description = $"The PEM private key of --tls-cert (tls.key) (default: ${ClientTls.KeyVariable})", HelpName = "FILE" };
var tlsCa = new Option<string?>("--tls-ca")
{
    Description = $"Talk TLS to the cluster, trusting gateways whose certificate this CA issued (ca.crt, PEM) (default: ${ClientTls.AuthorityVariable})",
    HelpName = "FILE",
};
var json = new Option<bool>("--json") { Description = "Print machine-readable JSON on standard output (progress goes to standard error)" };
var maxTrials = new Option<int>("--max-trials")
{
    Description = $"Refuse grids that expand past this many trials (at most {GridFile.MaxPlannedTrials:N0} are ever planned)",
    DefaultValueFactory = _ => GridFile.DefaultMaxTrials,
};
var top = new Option<int>("--top") { Description = "Leaderboard rows to show", DefaultValueFactory = _ => 30 };
var verbose = new Option<bool>("--verbose") { Description = "Show the embedded silo's or the client's log (standard error)" };
var grid = new Argument<string>("grid") { Description = "The grid file (JSON; see examples/grid.json)" };
var sweepId = new Argument<string>("sweep-id") { Description = "The sweep's id, as descent-client sweep printed it" };

var sweep = new Command("sweep", "Run the sweep a grid file describes, follow it, and write results.json and trials.csv")
{
    grid,
    new Option<string>("--out") { Description = "Where results go: DIR/<sweep-id>/", DefaultValueFactory = _ => "runs", HelpName = "DIR" },
    cluster, clusterId, tlsCert, tlsKey, tlsCa,
    new Option<int?>("--slots") { Description = "CPU slots of the embedded silo (default: one per two cores)", HelpName = "N" },
    json, maxTrials, top, verbose,
    new Option<string?>("--sweep-id")
    {
        Description = "The sweep's id on the cluster (default: a new one from its name and the time): the same grid submitted again under it re-attaches to the sweep (a sweep Job's retry)",
        HelpName = "ID",
    },
    new Option<bool>("--detach-on-sigterm") { Description = "SIGTERM stops following and leaves the sweep running on the cluster (exit code 1) instead of cancelling it as Ctrl-C does" },
};
sweep.SetAction((result, _) => Run(() => Actions.Sweep(new Actions.SweepOptions(
    result.GetValue(grid)!, result.GetValue<string>("--out")!,
    WithTls(ClusterTarget.From(result.GetValue(cluster), result.GetValue(clusterId), result.GetValue<int?>("--slots"), result.GetValue(verbose)), result),
    result.GetValue(json), Positive(result.GetValue(maxTrials), "--max-trials"), Positive(result.GetValue(top), "--top"),
    result.GetValue<string?>("--sweep-id"), result.GetValue<bool>("--detach-on-sigterm")), stops)));

var resume = new Command("resume", "Continue a sweep of the embedded silo whose client was stopped (killed, power lost): finished trials keep their results, the others run")
{
    sweepId,
    new Option<string>("--out") { Description = "Where the sweep's results are: DIR/<sweep-id>/ (its state in DIR/<sweep-id>/state/)", DefaultValueFactory = _ => "runs", HelpName = "DIR" },
    new Option<int?>("--slots") { Description = "CPU slots of the embedded silo (default: one per two cores)", HelpName = "N" },
    json, top, verbose,
};
resume.SetAction((result, _) => Run(() => Actions.Resume(new Actions.ResumeOptions(
    result.GetValue(sweepId)!, result.GetValue<string>("--out")!, result.GetValue<int?>("--slots"), result.GetValue(json),
    Positive(result.GetValue(top), "--top"), result.GetValue(verbose)), stops)));

var validate = new Command("validate", "Check a grid file and print how many trials it expands to; runs nothing") { grid, maxTrials, json };
validate.SetAction((result, _) => Run(() => Task.FromResult(Actions.Validate(result.GetValue(grid)!, Positive(result.GetValue(maxTrials), "--max-trials"), result.GetValue(json), stops))));

var status = new Command("status", "Show a sweep's progress on a cluster") { sweepId, cluster, clusterId, tlsCert, tlsKey, tlsCa, json, verbose };
status.SetAction((result, _) => Run(() => Actions.Status(result.GetValue(sweepId)!, Target(result), result.GetValue(json), stops).WaitAsync(stops.Stop)));

var leaderboard = new Command("leaderboard", "Show a sweep's ranked results on a cluster (--json: results.json's content)")
    { sweepId, cluster, clusterId, tlsCert, tlsKey, tlsCa, json, top, verbose };
leaderboard.SetAction((result, _) => Run(() => Actions.Leaderboard(result.GetValue(sweepId)!, Target(result), result.GetValue(json), Positive(result.GetValue(top), "--top"), stops).WaitAsync(stops.Stop)));

var cancel = new Command("cancel", "Cancel a sweep on a cluster: running trials stop, finished results are kept") { sweepId, cluster, clusterId, tlsCert, tlsKey, tlsCa, verbose };
cancel.SetAction((result, _) => Run(() => Actions.Cancel(result.GetValue(sweepId)!, Target(result), stops).WaitAsync(stops.Stop)));

var results = new Argument<string>("results") { Description = "A results.json, a sweep's results folder, or a sweep id (looked up under --out)" };
var runs = new Option<string>("--out") { Description = "Where sweeps' results are: DIR/<sweep-id>/", DefaultValueFactory = _ => "runs", HelpName = "DIR" };
var plot = new Command("plot", "Draw a sweep's figures (loss against time and against gradient evaluations, backward share) as PNG and SVG next to its results.json")
    { results, runs };
plot.SetAction((result, _) => Run(() => Task.FromResult(Actions.Plot(result.GetValue(results)!, result.GetValue(runs)!))));

var target = new Option<double?>("--target") { Description = "The target loss the K-optimizers race Adam and SGD to (default: the metric's target, else the largest final loss of the completed Adam and SGD trials)", HelpName = "LOSS" };
var report = new Command("report", "Write report.md next to a sweep's results.json: leaderboard, figures, and the post's claims tested with its numbers")
    { results, runs, target };
report.SetAction((result, _) => Run(() => Task.FromResult(Actions.Report(result.GetValue(results)!, result.GetValue(runs)!, result.GetValue(target)))));

var root = new RootCommand("descent-client: hyper-parameter sweeps of gradient-frugal optimizers on Orleans and TorchSharp")
{
    sweep, resume, validate, status, leaderboard, cancel, plot, report,
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"descent-client: {error.Message}");
    Console.Error.WriteLine("descent-client: see descent-client --help");
    return ExitCodes.BadInput;
}
// Ctrl-C belongs to StopRequests: the sweep command cancels the sweep and keeps finished results.
var exit = await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
return stops.Requested && !stops.Detached ? ExitCodes.Cancelled : exit;

ClusterTarget Target(ParseResult result) =>
    WithTls(ClusterTarget.From(result.GetValue(cluster), result.GetValue(clusterId), null, result.GetValue(verbose)), result);

ClusterTarget WithTls(ClusterTarget target, ParseResult result) =>
    target with { Tls = ClientTls.From(result.GetValue(tlsCert), result.GetValue(tlsKey), result.GetValue(tlsCa), target.Embedded) };

static int Positive(int value, string option) =>
    value >= 1 ? value : throw new UsageException($"{option} = {value}: must be at least 1");

// Every failure ends as one clear message and an exit code, never a stack trace.
async Task<int> Run(Func<Task<int>> action)
{
    try
    {
        return await action();
    }
    catch (Exception e) when (stops.Requested && e is OperationCanceledException or ClusterUnavailableException)
    {
        Console.Error.WriteLine("descent-client: stopped on request");
        return ExitCodes.Cancelled;
    }
    catch (GridException e)
    {
        Console.Error.WriteLine($"descent-client: {e.Path}: {e.Problems.Count} problem{(e.Problems.Count == 1 ? "" : "s")}; nothing was started or written");
        foreach (var problem in e.Problems) Console.Error.WriteLine($"  {problem}");
        return ExitCodes.BadInput;
    }
    catch (Descent.Client.Reports.ReportInputException e)
    {
        Console.Error.WriteLine($"descent-client: {e.Message}");
        return ExitCodes.BadInput;
    }
    catch (Descent.Silo.WriteFailedException e)
    {
        // A folder or file that cannot be written before a sweep starts (the embedded silo's store under --out).
        Console.Error.WriteLine($"descent-client: {e.Message}");
        return ExitCodes.Failure;
    }
    catch (Descent.Silo.SiloSettingsException e)
    {
        foreach (var problem in e.Problems) Console.Error.WriteLine($"descent-client: the embedded silo's settings (DESCENT__* variables): {problem}");
        return ExitCodes.BadInput;
    }
    catch (UsageException e)
    {
        Console.Error.WriteLine($"descent-client: {e.Message}");
        return ExitCodes.BadInput;
    }
    catch (SpecException e)
    {
        Console.Error.WriteLine("descent-client: the cluster refused the sweep; nothing was started or written");
        foreach (var problem in e.Problems) Console.Error.WriteLine($"  {problem}");
        return ExitCodes.BadInput;
    }
    catch (Exception e) when (e is ClusterUnavailableException or ClusterLostException or SweepDetachedException or SweepStoppedException)
    {
        Console.Error.WriteLine($"descent-client: {e.Message}");
        return ExitCodes.Failure;
    }
    catch (Exception e)
    {
        Console.Error.WriteLine($"descent-client: failed: {e.GetType().Name}: {e.Message}");
        if (Environment.GetEnvironmentVariable("DESCENT_DEBUG") is "1") Console.Error.WriteLine(e);
        return ExitCodes.Failure;
    }
}
