using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Descent.Client.Cluster;
using Descent.Sweeps;
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
    /// <param name="SweepId">The sweep's id (<c>--sweep-id</c>, a cluster's only): submitting the same grid under it
    /// again re-attaches to the sweep; null: a new id.</param>
    /// <param name="DetachOnSigterm">SIGTERM stops following and leaves the sweep running (<c>--detach-on-sigterm</c>)
    /// instead of cancelling it as Ctrl-C does.</param>
    public sealed record SweepOptions(string Grid, string Out, ClusterTarget Target, bool Json, int MaxTrials, int Top,
        string? SweepId = null, bool DetachOnSigterm = false);

    public sealed record ResumeOptions(string SweepId, string Out, int? Slots, bool Json, int Top, bool Verbose);

    /// <summary>What the sweep and resume commands follow and write: one sweep, where its results go, how to show them,
    /// and the client's spans to flush at exit within <paramref name="FlushTimeout"/>.</summary>
    sealed record Session(string Out, string SweepId, SweepPlan Plan, ClusterTarget Target, bool Json, int Top, TracerProvider? Tracer,
        TimeSpan FlushTimeout);

    /// <summary>The exit flush's bound (<see cref="TelemetryExport.ClientFlushTimeout"/>); a bad value is a usage error.</summary>
    static TimeSpan FlushTimeout()
    {
        try
        {
            return TelemetryExport.ClientFlushTimeout();
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>How long a quitting client waits for the finished trials' results (in-process on the embedded silo).</summary>
    static readonly TimeSpan QuitFetch = TimeSpan.FromSeconds(10);

    /// <summary>The embedded silo's store of a sweep, beside its results: <c>OUT/SWEEP-ID/state/</c> (absolute).</summary>
    static string StateFolder(string outDirectory, string sweepId) => Path.GetFullPath(Path.Combine(outDirectory, sweepId, "state"));

    public static async Task<int> Sweep(SweepOptions o, StopRequests stops)
    {
        CheckOutDirectory(o.Out);
        if (o.SweepId is { } given) SweepIds.Check(given, o.Target);
        if (o.DetachOnSigterm && o.Target.Embedded)
            throw new UsageException("--detach-on-sigterm: only a cluster's sweep can run on without its client (give --cluster)");
        SweepPlan plan;
        try
        {
            plan = GridFile.Load(o.Grid, o.MaxTrials, stops.Stop);
        }
        catch (OperationCanceledException) when (stops.Requested)
        {
            Console.Error.WriteLine("descent-client: cancelled while the grid was expanded; nothing was run or written");
            return ExitCodes.Cancelled;
        }
        var flushTimeout = FlushTimeout();
        // Flushed at exit within the bound, while the embedded silo flushes the trial spans.
        var tracer = TelemetryExport.StartClient(orleans: !o.Target.Embedded);
        try
        {
            return await Sweep(o, stops, plan, tracer, flushTimeout);
        }
        finally
        {
            // Already done when the sweep was followed; here for a sweep that never started.
            if (await TelemetryExport.Shutdown([tracer], flushTimeout, stops.CutShort)) tracer?.Dispose();
        }
    }

    static async Task<int> Sweep(SweepOptions o, StopRequests stops, SweepPlan plan, TracerProvider? tracer, TimeSpan flushTimeout)
    {
        var sweepId = o.SweepId ?? SweepIds.New(plan.Name);
        stops.DetachOnSigterm = o.DetachOnSigterm;
        void Announce() => Console.Error.WriteLine($"descent-client: sweep \"{plan.Name}\" ({sweepId}): {plan.Trials.Count} trials on the {o.Target.Describe}");
        // The embedded silo is announced while it starts; a cluster once it is reached, so that nothing is announced
        // for a cluster that cannot be.
        if (o.Target.Embedded) Announce();
        var target = o.Target.Embedded ? o.Target with { Store = StateFolder(o.Out, sweepId) } : o.Target;
        ClusterConnection connection;
        try
        {
            connection = await Connect(target, sweepId, stops);
            if (!o.Target.Embedded) Announce();
        }
        catch (ClusterUnavailableException) when (stops.Requested)
        {
            // The embedded silo may have made the sweep's (empty) store: the sweep never existed.
            if (target.Store is { } store) TryDelete(Path.GetDirectoryName(store)!);
            Console.Error.WriteLine("descent-client: cancelled before the sweep started; nothing was run or written");
            return ExitCodes.Cancelled;
        }
        // A given id may be a re-attachment (the same grid submitted again): its journal goes on where it was.
        try
        {
            return await FollowAndWrite(new Session(o.Out, sweepId, plan, target, o.Json, o.Top, tracer, flushTimeout), connection, stops, "sweep",
                () => o.SweepId is null ? TrialsJournal.Create(o.Out, sweepId, plan) : TrialsJournal.Continue(o.Out, sweepId, plan),
                async (coordinator, span) =>
                {
                    try
                    {
                        return await coordinator.Start(plan.ToSweepSpec(), DescentTelemetry.TraceParent(span));
                    }
                    catch (ArgumentException e) when (o.SweepId is not null)
                    {
                        // The coordinator takes the same sweep again (and returns it), never another one under its id.
                        throw new UsageException($"--sweep-id = \"{o.SweepId}\": {e.Message.Replace($"sweep id \"{o.SweepId}\" is", "it is")} on the {o.Target.Describe}; "
                            + "only the same grid re-attaches to it");
                    }
                });
        }
        catch (SweepStoppedException e) when (!e.Started && o.SweepId is null && target.Store is { } store)
        {
            // A write failed before the sweep was submitted: it never existed, and leaves nothing behind.
            TryDelete(Path.GetDirectoryName(store)!);
            throw;
        }
    }

    /// <summary>Continues a sweep of the embedded silo whose client stopped (killed, power lost) from its store in
    /// <c>OUT/SWEEP-ID/state/</c>: trials that had ended keep their results and are not run again, the others run, and
    /// the results are written as a sweep's are, its trials.jsonl continued. A sweep that had ended is not run again;
    /// only its results are written if the client stopped before writing them.</summary>
    public static async Task<int> Resume(ResumeOptions o, StopRequests stops)
    {
        var folder = Path.Combine(o.Out, o.SweepId);
        if (!Directory.Exists(folder))
            throw new UsageException($"sweep id = \"{o.SweepId}\": no folder {folder} (--out = \"{o.Out}\" is where its results would be)");
        var state = StateFolder(o.Out, o.SweepId);
        // The log of format version 1 too: opening it says which version it is.
        if (!File.Exists(Path.Combine(state, GrainStateDatabase.FileName)) && !File.Exists(Path.Combine(state, GrainStateDatabase.LogFileName)))
            throw new UsageException($"sweep id = \"{o.SweepId}\": {folder} has no saved state ({state}): only sweeps run on the embedded silo "
                + "can be resumed (a cluster's sweeps go on without their client)");
        var flushTimeout = FlushTimeout();
        var tracer = TelemetryExport.StartClient(orleans: false);
        try
        {
            return await Resume(o, stops, state, folder, tracer, flushTimeout);
        }
        finally
        {
            if (await TelemetryExport.Shutdown([tracer], flushTimeout, stops.CutShort)) tracer?.Dispose();
        }
    }

    static async Task<int> Resume(ResumeOptions o, StopRequests stops, string state, string folder, TracerProvider? tracer, TimeSpan flushTimeout)
    {
        var target = ClusterTarget.EmbeddedSilo(o.Slots, o.Verbose, state);
        ClusterConnection connection;
        try
        {
            connection = await Connect(target, o.SweepId, stops);
        }
        catch (ClusterUnavailableException) when (stops.Requested)
        {
            Console.Error.WriteLine("descent-client: cancelled before the sweep resumed; nothing was run or written");
            return ExitCodes.Cancelled;
        }
        SweepPlan plan;
        try
        {
            var coordinator = connection.Grains.GetGrain<ISweepCoordinatorGrain>(o.SweepId);
            var spec = await coordinator.GetSpec()
                ?? throw new UsageException($"sweep id = \"{o.SweepId}\": its store {state} holds no sweep (its client stopped before the sweep was submitted)");
            plan = SweepPlans.FromSpec(spec);
            // Activated from its store, the coordinator rebuilt its queue and leases from the trials and is moving again.
            var now = await coordinator.GetSnapshot();
            var results = Path.Combine(folder, "results.json");
            // results.json is written last (after trials.csv): with it there, the results are all written.
            if (now.Status.IsEnded() && File.Exists(results) && File.Exists(Path.Combine(folder, "trials.csv")))
            {
                Console.Error.WriteLine($"descent-client: sweep {o.SweepId} has already ended ({now.Status.Name()}; {Views.Summary(now, Elapsed(now))}); "
                    + $"nothing to resume, nothing written. Its results: {results}");
                await connection.DisposeAsync();
                return ExitCodes.Done;
            }
            Console.Error.WriteLine(now.Status.IsEnded()
                ? $"descent-client: sweep \"{plan.Name}\" ({o.SweepId}) had ended ({now.Status.Name()}) before its client wrote the results; writing them"
                : $"descent-client: resuming sweep \"{plan.Name}\" ({o.SweepId}): {now.Ended} of {now.TrialCount} trials had ended, the others run on the {target.Describe}");
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        return await FollowAndWrite(new Session(o.Out, o.SweepId, plan, target, o.Json, o.Top, tracer, flushTimeout), connection, stops, "resume",
            () => TrialsJournal.Continue(o.Out, o.SweepId, plan), (coordinator, _) => coordinator.GetSnapshot());
    }

    /// <summary>Opens the connection; a sweep's store that another client holds, or that this version cannot read, is a
    /// <see cref="UsageException"/> naming the sweep.</summary>
    static async Task<ClusterConnection> Connect(ClusterTarget target, string sweepId, StopRequests stops)
    {
        try
        {
            return await ClusterConnection.Open(target, stops.Stop);
        }
        catch (StoreLockedException e)
        {
            throw new UsageException($"sweep {sweepId} is being run by another descent-client{(e.Pid is { } pid ? $" (pid {pid})" : "")}; its store is {e.Folder}");
        }
        catch (StoreFormatException e)
        {
            throw new UsageException($"sweep {sweepId} cannot be read by this descent-client: {e.Message}");
        }
    }

    /// <summary>How long the sweep has run: from its start to its end, or to now.</summary>
    static TimeSpan Elapsed(SweepSnapshot snapshot) => (snapshot.FinishedAt ?? DateTimeOffset.UtcNow) - (snapshot.StartedAt ?? DateTimeOffset.UtcNow);

    static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>The sweep and resume commands' common part: follows the sweep from <paramref name="begin"/>'s snapshot
    /// (under a client span named <paramref name="spanName"/>), journals each ended trial as it hears of it, and writes
    /// the results, figures and report at the end; owns and closes <paramref name="connection"/>. A write that fails
    /// (the journal, the results, the embedded silo's store: a full disk, a read-only file system, a removed folder)
    /// ends it at once with <see cref="SweepStoppedException"/>: one line naming the file and the cause, and how to go on.</summary>
    static async Task<int> FollowAndWrite(Session o, ClusterConnection connection, StopRequests stops, string spanName,
        Func<TrialsJournal> openJournal, Func<ISweepCoordinatorGrain, Activity?, Task<SweepSnapshot>> begin)
    {
        var (sweepId, plan) = (o.SweepId, o.Plan);
        TrialsJournal? journal = null;
        ResultCollector? collector = null;
        SweepSnapshot? end = null;
        var (begun, failed) = (false, false);
        try
        {
            // Each ended trial reaches the disk as soon as the client hears of it (a killed client keeps them); a journal
            // that cannot be written stops the sweep before it starts, rather than leave its results to a client that
            // must not be killed.
            try
            {
                journal = openJournal();
            }
            catch (JsonException e)
            {
                Console.Error.WriteLine($"descent-client: cannot continue {Path.Combine(o.Out, sweepId, TrialsJournal.FileName)} ({e.Message}); results are written when the sweep ends");
            }
            var coordinator = connection.Grains.GetGrain<ISweepCoordinatorGrain>(sweepId);
            collector = new ResultCollector(connection.Grains, coordinator, plan, sweepId, journal);
            using (var span = DescentTelemetry.Client.StartActivity(spanName, ActivityKind.Client))
            {
                span?.SetTag("descent.sweep.id", sweepId);
                span?.SetTag("descent.sweep.name", plan.Name);
                span?.SetTag("descent.sweep.method", plan.Method);
                span?.SetTag("descent.sweep.trials", plan.Trials.Count);
                span?.SetTag("descent.cluster", o.Target.Describe);
                try
                {
                    var first = await begin(coordinator, span);
                    begun = true;
                    var live = !o.Json && Views.LiveProgress;
                    end = await new SweepFollower(coordinator, plan, o.Target, live, collector, connection.StoreFailed).Follow(first, stops);
                }
                catch (Exception e)
                {
                    span?.SetStatus(ActivityStatusCode.Error, e.Message);
                    throw;
                }
                span?.SetTag("descent.sweep.status", end.Status.Name());
                foreach (var status in StatusNames.Ends)
                    span?.SetTag($"descent.sweep.{status.Name()}", end.Count(status));
            }
            var quitting = stops.Quit.IsCancellationRequested;
            SweepResults results;
            try
            {
                results = await Fetch(coordinator, collector, end).WaitAsync(quitting ? QuitFetch : Timeout.InfiniteTimeSpan);
            }
            catch (TimeoutException) when (quitting)
            {
                Console.Error.WriteLine($"descent-client: quitting: the finished trials' results did not arrive within {QuitFetch.TotalSeconds:0} s; "
                    + (journal is null ? "nothing was written" : $"those that had arrived are in {journal.Path}")
                    + (o.Target.Embedded ? "" : $" (all stay on the cluster: descent-client leaderboard {sweepId} --json)"));
                return ExitCodes.Cancelled;
            }
            // The table first: should the files fail, the results are still shown.
            Report(results, o.Json, o.Top);
            var directory = ResultsWriter.Write(o.Out, results);
            Console.Error.WriteLine($"descent-client: results in {Path.Combine(directory, "results.json")} and {Path.Combine(directory, "trials.csv")}");
            // A stopped sweep is not kept waiting for drawings: they come from results.json whenever asked.
            if (stops.Requested)
                Console.Error.WriteLine($"descent-client: figures and report not drawn (stopped); draw them with: descent-client report {directory}");
            else DrawAndReport(directory);
            if (stops.Requested || end.Status == SweepStatus.Cancelled) // here, or by descent-client cancel elsewhere
            {
                var finished = end.Count(TrialStatus.Completed) + end.Count(TrialStatus.Diverged) + end.Count(TrialStatus.Failed);
                var unsettled = end.Count(TrialStatus.Running);
                Console.Error.WriteLine($"descent-client: sweep {(end.Status == SweepStatus.Cancelled ? "cancelled" : "stopped")}; finished trials kept: {finished}"
                    + (unsettled > 0 ? $"; still running when the client stopped waiting: {unsettled} (their rows say running)" : ""));
                return ExitCodes.Cancelled;
            }
            return end.Status == SweepStatus.Done ? ExitCodes.Done : ExitCodes.Failure;
        }
        catch (Exception e) when (WriteFailure(e, connection) is { } write)
        {
            failed = true;
            // What had ended: the coordinator knows it, the journal only what it could keep (a full disk stops it early).
            var ended = collector?.Summaries.Count ?? 0;
            if (begun)
            {
                try
                {
                    var now = await connection.Grains.GetGrain<ISweepCoordinatorGrain>(sweepId).GetSnapshot().WaitAsync(TimeSpan.FromSeconds(2));
                    ended = Math.Max(ended, now.EndedCount);
                }
                catch (Exception) { } // the count is a courtesy: the line goes out without it
            }
            throw new SweepStoppedException(StoppedMessage(o, write, begun, spanName == "resume", end, ended), write, begun);
        }
        finally
        {
            journal?.Dispose();
            // The outcome is known: a signal from now on cuts the exit short and leaves the exit code as it is.
            stops.Settle();
            // The client's spans are flushed while the embedded silo stops and flushes its own: one bound for both.
            var flushed = TelemetryExport.Shutdown([o.Tracer], o.FlushTimeout, stops.CutShort);
            // Quitting does not wait for the embedded silo to stop its trials, also when it comes during that wait: the
            // process exit stops them (RunningTrainers). Nor does a failed write, after which nothing more can be kept: the
            // silo gets a few seconds to stop its trials (their reports fail and are retried for longer than that).
            try
            {
                if (!stops.CutShort.IsCancellationRequested)
                    await connection.DisposeAsync().AsTask().WaitAsync(failed ? WriteFailedStop : Timeout.InfiniteTimeSpan, stops.CutShort);
            }
            catch (OperationCanceledException) when (stops.CutShort.IsCancellationRequested) { }
            catch (TimeoutException) when (failed) { }
            await flushed;
        }
    }

    /// <summary>How long a sweep stopped by a failed write waits for its embedded silo to stop.</summary>
    static readonly TimeSpan WriteFailedStop = TimeSpan.FromSeconds(3);

    /// <summary>The failed write behind <paramref name="failure"/>: a result file's, or the embedded silo's store's (whose
    /// failure grain calls report wrapped, if at all); null when <paramref name="failure"/> is something else.</summary>
    static WriteFailedException? WriteFailure(Exception failure, ClusterConnection connection) =>
        failure as WriteFailedException
        ?? (connection.StoreFailed.IsCompleted ? connection.StoreFailed.Result : null);

    /// <summary>The one line a sweep stopped by <paramref name="failure"/> ends with: the file and the cause, where the
    /// sweep stands, and the command that goes on once the cause is fixed.</summary>
    static string StoppedMessage(Session o, WriteFailedException failure, bool begun, bool resuming, SweepSnapshot? end, int ended)
    {
        var id = o.SweepId;
        if (!begun && resuming)
            return $"{failure.Message}; sweep {id} was not resumed (nothing ran); once the cause is fixed, `descent-client resume {id} --out {o.Out}` continues it";
        if (!begun)
            return o.Target.Embedded ? $"{failure.Message}; sweep {id} was not started (nothing was run or kept)"
                : $"{failure.Message}; sweep {id} was not submitted to the {o.Target.Describe}";
        if (!o.Target.Embedded)
            return $"{failure.Message}; stopped following sweep {id}, which runs on on the {o.Target.Describe}: "
                + $"`{o.Target.Command("status", id)}` shows it, `{o.Target.Command("leaderboard", id, "--json")} > results.json` gets its results";
        var state = StateFolder(o.Out, id);
        var where = end is { } e && e.Status.IsEnded()
            ? $"sweep {id} has ended ({e.Status.Name()}), but its results are not all written"
            : $"sweep {id} stopped with {ended} of {o.Plan.Trials.Count} trials ended";
        return Directory.Exists(state)
            ? $"{failure.Message}; {where}; its state is kept in {state}: once the cause is fixed, `descent-client resume {id} --out {o.Out}` continues it"
            : $"{failure.Message}; {where}; its store {state} is gone, so it cannot be resumed";
    }

    /// <summary>Checks and expands <paramref name="grid"/> and prints what it runs; a stop request (Ctrl-C) ends the
    /// expansion within a check of one trial (exit code 130).</summary>
    public static int Validate(string grid, int maxTrials, bool json, StopRequests stops)
    {
        SweepPlan plan;
        try
        {
            plan = GridFile.Load(grid, maxTrials, stops.Stop);
        }
        catch (OperationCanceledException) when (stops.Requested)
        {
            Console.Error.WriteLine($"descent-client: {grid}: validation stopped on request");
            return ExitCodes.Cancelled;
        }
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
            writer.WriteNumber("repeats", plan.Repeats);
            writer.WriteNumber("collapsed", plan.Collapsed);
            writer.WriteStartObject("by_optimizer");
            foreach (var (name, count) in byOptimizer) writer.WriteNumber(name, count);
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.Flush();
            Console.Out.WriteLine();
            return ExitCodes.Done;
        }
        var noun = plan.Method == "random" ? "draw" : "combination";
        var expanded = plan.Repeats > 1
            ? $"{Count(plan.Expanded / plan.Repeats, noun)} x {plan.Repeats} repeats = {Count(plan.Expanded, "trial")}"
            : Count(plan.Expanded, noun);
        Console.Out.WriteLine($"{grid}: valid. Sweep \"{plan.Name}\" ({plan.Method}, ranked by {plan.Metric.Name}) runs {Count(plan.Trials.Count, "trial")}: {expanded}, "
            + (plan.Collapsed > 0 ? $"{plan.Collapsed} of them collapsed into equal trials (settings an optimizer does not read, repeated draws or seeds)." : "none collapsed."));
        foreach (var (name, count) in byOptimizer) Console.Out.WriteLine($"  {name}: {count}");
        return ExitCodes.Done;
    }

    static string Count(double n, string noun) => $"{n.ToString("G", System.Globalization.CultureInfo.InvariantCulture)} {noun}{(n == 1 ? "" : "s")}";

    public static async Task<int> Status(string sweepId, ClusterTarget target, bool json, StopRequests stops)
    {
        await using var connection = await Remote(target, "status", stops);
        var (coordinator, spec) = await Existing(connection, sweepId);
        var snapshot = await coordinator.GetSnapshot();
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                id = snapshot.Id, name = snapshot.Name, status = snapshot.Status.Name(),
                started_at = snapshot.StartedAt, finished_at = snapshot.FinishedAt, trial_count = snapshot.TrialCount,
                completed = snapshot.Count(TrialStatus.Completed), diverged = snapshot.Count(TrialStatus.Diverged),
                failed = snapshot.Count(TrialStatus.Failed), cancelled = snapshot.Count(TrialStatus.Cancelled),
                running = snapshot.Count(TrialStatus.Running), queued = snapshot.Count(TrialStatus.Queued),
                cluster_devices = snapshot.ClusterDevices,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Done;
        }
        Views.Out.Write(Views.Live(SweepPlans.FromSpec(spec), snapshot, Elapsed(snapshot), target.Describe, false));
        Views.Out.WriteLine();
        Console.Out.WriteLine($"status: {snapshot.Status.Name()}");
        return ExitCodes.Done;
    }

    public static async Task<int> Leaderboard(string sweepId, ClusterTarget target, bool json, int top, StopRequests stops)
    {
        await using var connection = await Remote(target, "leaderboard", stops);
        var (coordinator, spec) = await Existing(connection, sweepId);
        var results = await Fetch(coordinator, new ResultCollector(connection.Grains, coordinator, SweepPlans.FromSpec(spec), sweepId, null),
            await coordinator.GetSnapshot());
        Report(results, json, top, $"not shown: --top {results.Leaderboard.Rows.Count} shows every row, --json every field");
        return ExitCodes.Done;
    }

    public static async Task<int> Cancel(string sweepId, ClusterTarget target, StopRequests stops)
    {
        await using var connection = await Remote(target, "cancel", stops);
        var (coordinator, _) = await Existing(connection, sweepId);
        var before = await coordinator.GetSnapshot();
        if (before.Status.IsEnded())
        {
            Console.Out.WriteLine($"sweep {sweepId} has already ended ({before.Status.Name()}); nothing to cancel");
            return ExitCodes.Done;
        }
        var after = await coordinator.Cancel();
        Console.Out.WriteLine($"sweep {sweepId} cancelled: {Views.Summary(after, Elapsed(after))}");
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

    /// <summary>A results.json (or, for a sweep whose client was stopped before writing one, its trials.jsonl) from what
    /// the user named: the file, its folder, or a sweep id under <paramref name="runs"/>.</summary>
    static string Locate(string results, string runs)
    {
        if (File.Exists(results)) return results;
        foreach (var folder in new[] { results, Path.Combine(runs, results) })
            foreach (var name in new[] { "results.json", TrialsJournal.FileName })
                if (File.Exists(Path.Combine(folder, name))) return Path.Combine(folder, name);
        throw new ReportInputException($"results = \"{results}\": neither a results.json or {TrialsJournal.FileName}, nor a folder with one, nor a sweep id under --out = \"{runs}\"");
    }

    /// <summary>The results as of <paramref name="snapshot"/>: the trials not collected yet, then the ranking.</summary>
    static async Task<SweepResults> Fetch(ISweepCoordinatorGrain coordinator, ResultCollector collector, SweepSnapshot snapshot)
    {
        await collector.CatchUp(snapshot);
        return collector.Results(snapshot, await coordinator.GetTable());
    }

    static void Report(SweepResults results, bool json, int top, string rest = Views.InResultsFile)
    {
        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            ResultsWriter.WriteJson(stdout, results);
            stdout.Write("\n"u8);
            return;
        }
        Views.Out.Write(Views.Leaderboard(results, top, rest));
        Views.Out.WriteLine();
        foreach (var line in Views.EndReasons(results)) Console.Out.WriteLine(line);
    }

    static async Task<ClusterConnection> Remote(ClusterTarget target, string command, StopRequests stops)
    {
        if (target.Embedded)
            throw new UsageException($"{command} needs a cluster: give --cluster redis://host:port (or gateways, host:port) or set {ClusterTarget.ClusterVariable} (an embedded sweep lives only as long as its descent-client sweep)");
        return await ClusterConnection.Open(target, stops.Stop);
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
            var why = e is WriteFailedException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            Console.Error.WriteLine($"descent-client: the results are saved, but the figures or the report could not be drawn ({why}); "
                + $"try again with: descent-client report {directory}");
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
    /// <summary>Throws <see cref="UsageException"/> naming <c>--sweep-id</c> unless <paramref name="id"/> is an id a
    /// cluster's sweep can take: letters, digits, '-', '_' and '.', at most 100 characters (it names the sweep's results
    /// folder).</summary>
    public static void Check(string id, ClusterTarget target)
    {
        if (target.Embedded)
            throw new UsageException($"--sweep-id = \"{id}\": only a cluster's sweep takes a given id (an embedded sweep goes on with descent-client resume SWEEP-ID)");
        if (id.Length is 0 or > 100 || id is "." or ".." || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new UsageException($"--sweep-id = \"{id}\": expected 1 to 100 letters, digits, '-', '_' or '.'");
    }

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

/// <summary>
/// SIGINT (Ctrl-C), SIGTERM and SIGHUP, for the whole life of the process. The first asks the command to stop (a sweep is
/// cancelled: running trials stop, finished results are written); signals within <see cref="Together"/> of it are
/// the same request (<c>timeout</c> around <c>dotnet run</c> delivers one SIGTERM twice: to the process group, and
/// forwarded by dotnet run). A later one asks to quit (a sweep writes the results it has and stops waiting for its
/// running trials); any after that are ignored. No signal ends the process from its handler: the command returns,
/// so no file is cut off mid-write, and the trainers of an embedded silo are stopped before the process exits
/// (<see cref="Descent.Grains.Training.RunningTrainers"/>). Exit code 130 whenever a stop was requested.
/// </summary>
public sealed class StopRequests
{
    /// <summary>Signals this close to the first are one request.</summary>
    public static readonly TimeSpan Together = TimeSpan.FromSeconds(1);

    readonly CancellationTokenSource _stop = new(), _quit = new(), _cutShort = new();
    readonly PosixSignalRegistration[] _registrations; // held: a collected registration stops handling its signal
    readonly Lock _lock = new();
    long? _firstAt;

    StopRequests()
    {
        // SIGHUP too: a closed terminal or SSH session stops the sweep like Ctrl-C instead of killing the client.
        _registrations = [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }.Select(s => PosixSignalRegistration.Create(s, Handle))];
    }

    /// <summary>Handles the signals from now until the process has exited (held by a static field: after Main returns
    /// the process still waits for trainers, and a signal then must not take the default action).</summary>
    public static StopRequests Listen() => _listening ??= new StopRequests();

    static StopRequests? _listening;

    /// <summary>Cancelled by the first request.</summary>
    public CancellationToken Stop => _stop.Token;

    /// <summary>Cancelled by a second request, at least <see cref="Together"/> after the first.</summary>
    public CancellationToken Quit => _quit.Token;

    /// <summary>Cancelled by a quit, and by any request after <see cref="Settle"/>: ends the waits of the exit (the
    /// embedded silo's stop, the telemetry flush).</summary>
    public CancellationToken CutShort => _cutShort.Token;

    /// <summary>The command's outcome is decided (the sweep ended and its results are written, or it failed): a request
    /// from now on only cuts the exit short (<see cref="CutShort"/>); it does not make the exit code 130.</summary>
    public void Settle()
    {
        lock (_lock) _settled = true;
    }

    bool _settled;

    public bool Requested => _stop.IsCancellationRequested;

    /// <summary>Set by a command whose SIGTERM detaches (<c>descent-client sweep --detach-on-sigterm</c>).</summary>
    public bool DetachOnSigterm { get; set; }

    /// <summary>The first request was a SIGTERM and the command detaches on it: stop following, leave the sweep running.</summary>
    public bool Detached => DetachOnSigterm && _firstSignal == PosixSignal.SIGTERM;

    PosixSignal? _firstSignal;

    void Handle(PosixSignalContext context)
    {
        context.Cancel = true; // the command ends the process, not the runtime
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            if (_settled)
            {
                // Not the echo of a request just made (timeout's SIGTERM twice): the user wants out now.
                // Cancelled off this thread: the exit it ends must not run inside the signal handler, under the lock.
                if (_firstAt is not { } made || Stopwatch.GetElapsedTime(made, now) >= Together) _ = _cutShort.CancelAsync();
                return;
            }
            if (_firstAt is not { } first)
            {
                _firstAt = now;
                _firstSignal = context.Signal;
                _stop.Cancel();
            }
            else if (!_quit.IsCancellationRequested && Stopwatch.GetElapsedTime(first, now) >= Together)
            {
                Console.Error.WriteLine("descent-client: quitting: writing the finished trials' results, not waiting for running trials");
                _quit.Cancel();
                _ = _cutShort.CancelAsync();
            }
        }
    }
}
