using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Descent.Client.Cluster;
using Descent.Client.Grid;
using Descent.Client.Output;
using Descent.Client.Reports;
using Descent.Contracts;
using Descent.Silo;
using System.Diagnostics;
using OpenTelemetry.Trace;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Spectre.Console;

namespace Descent.Client.Commands;

/// <summary>Exit codes: 0 the sweep is done, 1 a runtime failure, 2 bad input, 130 cancelled.</summary>
public static class ExitCodes
{
    public const int Done = 0, Failure = 1, BadInput = 2, Cancelled = 130;
}

/// <summary>What the commands do; Program.cs only declares the command line.</summary>
static class Actions
{
    public sealed record SweepOptions(string Grid, string Out, ClusterTarget Target, bool Json, int MaxTrials, int Top);

    public static async Task<int> Sweep(SweepOptions o)
    {
        CheckOutDirectory(o.Out);
        var plan = GridFile.Load(o.Grid, o.MaxTrials);
        // Flushed (disposed) last, after the embedded silo has stopped and flushed the trial spans.
        using var tracer = TelemetryExport.StartClient(orleans: !o.Target.Embedded);
        using var signals = new CancelSignals(beforeQuit: () => tracer?.ForceFlush(2000));
        var sweepId = SweepIds.New(plan.Name);
        Console.Error.WriteLine($"descent-client: sweep \"{plan.Name}\" ({sweepId}): {plan.Trials.Count} trials on the {o.Target.Describe}");
        ClusterConnection connection;
        try
        {
            connection = await ClusterConnection.Open(o.Target, signals.Token);
        }
        catch (ClusterUnavailableException) when (signals.Token.IsCancellationRequested)
        {
            Console.Error.WriteLine("descent-client: cancelled before the sweep started; nothing was run or written");
            return ExitCodes.Cancelled;
        }
        await using (connection)
        {
            var coordinator = connection.Grains.GetGrain<ISweepCoordinatorGrain>(sweepId);
            SweepSnapshot end;
            using (var span = DescentTelemetry.Client.StartActivity("sweep", ActivityKind.Client))
            {
                span?.SetTag("descent.sweep.id", sweepId);
                span?.SetTag("descent.sweep.name", plan.Name);
                span?.SetTag("descent.sweep.method", plan.Method);
                span?.SetTag("descent.sweep.trials", plan.Trials.Count);
                span?.SetTag("descent.cluster", o.Target.Describe);
                try
                {
                    var first = await coordinator.Start(plan.ToSweepSpec(), DescentTelemetry.TraceParent(span));
                    var live = !o.Json && Views.LiveProgress;
                    end = await new SweepFollower(coordinator, plan, o.Target.Describe, live).Follow(first, signals.Token);
                }
                catch (Exception e)
                {
                    span?.SetStatus(ActivityStatusCode.Error, e.Message);
                    throw;
                }
                span?.SetTag("descent.sweep.status", end.Status.ToString().ToLowerInvariant());
                foreach (var state in new[] { TrialState.Completed, TrialState.Diverged, TrialState.Failed, TrialState.Cancelled })
                    span?.SetTag($"descent.sweep.{state.ToString().ToLowerInvariant()}", end.Count(state));
            }
            var results = await Fetch(connection, plan, end);
            var (directory, saved) = Save(o.Out, results);
            Report(results, o.Json, o.Top);
            Console.Error.WriteLine($"descent-client: results in {Path.Combine(directory, "results.json")} and {Path.Combine(directory, "trials.csv")}");
            DrawAndReport(directory);
            if (!saved) return ExitCodes.Failure;
            if (end.Status == SweepStatus.Done) return ExitCodes.Done;
            if (end.Status == SweepStatus.Cancelled)
            {
                var finished = end.Count(TrialState.Completed) + end.Count(TrialState.Diverged) + end.Count(TrialState.Failed);
                var unsettled = end.Count(TrialState.Running);
                Console.Error.WriteLine($"descent-client: sweep cancelled; finished trials kept: {finished}"
                    + (unsettled > 0 ? $"; still stopping when the client stopped waiting: {unsettled} (their rows say running)" : ""));
                return ExitCodes.Cancelled;
            }
            return ExitCodes.Failure;
        }
    }

    public static int Validate(string grid, int maxTrials, bool json)
    {
        var plan = GridFile.Load(grid, maxTrials);
        var byOptimizer = plan.Trials.GroupBy(t => (string)t.Config[0].Value!).ToDictionary(g => g.Key, g => g.Count());
        if (json)
        {
            using var writer = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
            writer.WriteStartObject();
            writer.WriteString("name", plan.Name);
            writer.WriteString("method", plan.Method);
            writer.WriteString("metric", plan.Metric.Name);
            writer.WriteNumber("trials", plan.Trials.Count);
            writer.WriteNumber("expanded", plan.Expanded);
            writer.WriteStartObject("by_optimizer");
            foreach (var (name, count) in byOptimizer) writer.WriteNumber(name, count);
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.Flush();
            Console.Out.WriteLine();
            return ExitCodes.Done;
        }
        var collapsed = plan.Expanded - plan.Trials.Count;
        Console.Out.WriteLine($"{grid}: valid. Sweep \"{plan.Name}\" ({plan.Method}, ranked by {plan.Metric.Name}) runs {plan.Trials.Count} trials"
            + (collapsed > 0 ? $" ({plan.Expanded} combinations; {collapsed} equal ones collapsed, e.g. settings an optimizer does not read)" : "") + ".");
        foreach (var (name, count) in byOptimizer) Console.Out.WriteLine($"  {name}: {count}");
        return ExitCodes.Done;
    }

    public static async Task<int> Status(string sweepId, ClusterTarget target, bool json)
    {
        await using var connection = await Remote(target, "status");
        var (coordinator, spec) = await Existing(connection, sweepId);
        var snapshot = await coordinator.GetSnapshot();
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                id = snapshot.Id, name = snapshot.Name, status = snapshot.Status.ToString().ToLowerInvariant(),
                started_at = snapshot.StartedAt, finished_at = snapshot.FinishedAt, trial_count = snapshot.TrialCount,
                completed = snapshot.Count(TrialState.Completed), diverged = snapshot.Count(TrialState.Diverged),
                failed = snapshot.Count(TrialState.Failed), cancelled = snapshot.Count(TrialState.Cancelled),
                running = snapshot.Count(TrialState.Running), queued = snapshot.Count(TrialState.Queued),
                cluster_devices = snapshot.ClusterDevices,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Done;
        }
        var elapsed = (snapshot.FinishedAt ?? DateTimeOffset.UtcNow) - (snapshot.StartedAt ?? DateTimeOffset.UtcNow);
        Views.Out.Write(Views.Live(SweepPlans.FromSpec(spec), snapshot, elapsed, target.Describe, false));
        Views.Out.WriteLine();
        Console.Out.WriteLine($"status: {snapshot.Status.ToString().ToLowerInvariant()}");
        return ExitCodes.Done;
    }

    public static async Task<int> Leaderboard(string sweepId, ClusterTarget target, bool json, int top)
    {
        await using var connection = await Remote(target, "leaderboard");
        var (coordinator, spec) = await Existing(connection, sweepId);
        var results = await Fetch(connection, SweepPlans.FromSpec(spec), await coordinator.GetSnapshot());
        Report(results, json, top);
        return ExitCodes.Done;
    }

    public static async Task<int> Cancel(string sweepId, ClusterTarget target)
    {
        await using var connection = await Remote(target, "cancel");
        var (coordinator, _) = await Existing(connection, sweepId);
        var before = await coordinator.GetSnapshot();
        if (before.Status is SweepStatus.Done or SweepStatus.Failed or SweepStatus.Cancelled)
        {
            Console.Out.WriteLine($"sweep {sweepId} has already ended ({before.Status.ToString().ToLowerInvariant()}); nothing to cancel");
            return ExitCodes.Done;
        }
        var after = await coordinator.Cancel();
        Console.Out.WriteLine($"sweep {sweepId} cancelled: {Views.Summary(after, (after.FinishedAt ?? DateTimeOffset.UtcNow) - (after.StartedAt ?? DateTimeOffset.UtcNow))}");
        return ExitCodes.Done;
    }

    public static int Plot(string results, string runs)
    {
        var file = ResultsFile.Load(Locate(results, runs));
        foreach (var path in Figures.Draw(file, Path.GetDirectoryName(Path.GetFullPath(file.Path))!))
            Console.Out.WriteLine(path);
        return ExitCodes.Done;
    }

    public static int Report(string results, string runs, double? target)
    {
        if (target is { } t && !(t >= 0 && double.IsFinite(t))) throw new UsageException($"--target = {t}: must be a finite loss of 0 or more");
        Console.Out.WriteLine(Reports.Report.Write(ResultsFile.Load(Locate(results, runs)), target));
        return ExitCodes.Done;
    }

    /// <summary>A results.json from what the user named: the file, its folder, or a sweep id under <paramref name="runs"/>.</summary>
    static string Locate(string results, string runs)
    {
        if (File.Exists(results)) return results;
        foreach (var candidate in new[] { Path.Combine(results, "results.json"), Path.Combine(runs, results, "results.json") })
            if (File.Exists(candidate)) return candidate;
        throw new ReportInputException($"results = \"{results}\": neither a results.json, nor a folder with one, nor a sweep id under --out = \"{runs}\"");
    }

    static async Task<SweepResults> Fetch(ClusterConnection connection, SweepPlan plan, SweepSnapshot snapshot)
    {
        var leaderboard = connection.Grains.GetGrain<ILeaderboardGrain>(snapshot.Id);
        var records = await leaderboard.GetResults();
        var table = await leaderboard.GetTable();
        return SweepResults.Of(plan, snapshot, records, table);
    }

    static void Report(SweepResults results, bool json, int top)
    {
        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            ResultsWriter.WriteJson(stdout, results);
            stdout.Write("\n"u8);
            return;
        }
        Views.Out.Write(Views.Leaderboard(results, top));
        Views.Out.WriteLine();
    }

    static async Task<ClusterConnection> Remote(ClusterTarget target, string command)
    {
        if (target.Embedded)
            throw new UsageException($"{command} needs a cluster: give --cluster host:port or set {ClusterTarget.ClusterVariable} (an embedded sweep lives only as long as its descent-client sweep)");
        return await ClusterConnection.Open(target, CancellationToken.None);
    }

    static async Task<(ISweepCoordinatorGrain, SweepSpec)> Existing(ClusterConnection connection, string sweepId)
    {
        var coordinator = connection.Grains.GetGrain<ISweepCoordinatorGrain>(sweepId);
        var spec = await coordinator.GetSpec();
        return spec is null ? throw new UsageException($"sweep id = \"{sweepId}\": no such sweep on the {connection.Target.Describe}") : (coordinator, spec);
    }

    /// <summary>Figures and report.md next to results.json. The results are already on disk: a failure here is
    /// reported and does not change the exit code (<c>descent-client report</c> can try again).</summary>
    static void DrawAndReport(string directory)
    {
        try
        {
            Reports.Report.Write(ResultsFile.Load(Path.Combine(directory, "results.json")), null);
            Console.Error.WriteLine($"descent-client: figures and report in {directory}");
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"descent-client: the results are saved, but the figures or the report could not be drawn ({e.GetType().Name}: {e.Message}); "
                + $"try again with: descent-client report {directory}");
        }
    }

    /// <summary>Writes the results to <paramref name="outDirectory"/>, or, when that fails (a full disk, a folder
    /// made read-only meanwhile), to a folder under the temporary directory, so that a finished sweep is never lost.</summary>
    static (string Directory, bool Saved) Save(string outDirectory, SweepResults results)
    {
        try
        {
            return (ResultsWriter.Write(outDirectory, results), true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var fallback = Path.Combine(Path.GetTempPath(), "descent-runs");
            Console.Error.WriteLine($"descent-client: cannot write the results to --out = \"{outDirectory}\" ({e.Message}); writing them to {fallback} instead");
            return (ResultsWriter.Write(fallback, results), false);
        }
    }

    /// <summary>Fails before anything runs if the results could not be written there.</summary>
    static void CheckOutDirectory(string directory)
    {
        var full = Path.GetFullPath(directory);
        if (File.Exists(full)) throw new UsageException($"--out = \"{directory}\": is a file; results need a folder");
        var existing = full;
        while (!Directory.Exists(existing)) existing = Path.GetDirectoryName(existing) ?? throw new UsageException($"--out = \"{directory}\": no such place");
        if (File.Exists(existing)) throw new UsageException($"--out = \"{directory}\": {existing} is a file");
    }
}

/// <summary>Sweep ids: the sweep's name, the UTC time and a random suffix (<c>post-benchmark-20261128-141502-3f9a</c>).</summary>
public static class SweepIds
{
    public static string New(string name, DateTimeOffset? now = null)
    {
        var slug = new StringBuilder();
        foreach (var c in name.ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c)) slug.Append(c);
            else if (slug.Length > 0 && slug[^1] != '-') slug.Append('-');
            if (slug.Length >= 40) break;
        }
        var prefix = slug.ToString().Trim('-');
        var time = (now ?? DateTimeOffset.UtcNow).UtcDateTime.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture);
        var suffix = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));
        return $"{(prefix.Length > 0 ? prefix : "sweep")}-{time}-{suffix}";
    }
}

/// <summary>Ctrl-C and SIGTERM: the first asks the sweep to cancel (running trials stop, finished results are
/// written); the second quits at once with exit code 130 (results already on disk stay whole; the client's spans
/// are flushed, an embedded silo's running trials are not).</summary>
sealed class CancelSignals : IDisposable
{
    readonly CancellationTokenSource _cancel = new();
    readonly PosixSignalRegistration[] _registrations;
    readonly Action? _beforeQuit;

    public CancelSignals(Action? beforeQuit = null)
    {
        _beforeQuit = beforeQuit;
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];
    }

    public CancellationToken Token => _cancel.Token;

    void Handle(PosixSignalContext context)
    {
        context.Cancel = true;
        if (_cancel.IsCancellationRequested)
        {
            Console.Error.WriteLine("descent-client: quitting without waiting for running trials");
            _beforeQuit?.Invoke();
            Environment.Exit(ExitCodes.Cancelled);
        }
        _cancel.Cancel();
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _cancel.Dispose();
    }
}
