using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Descent.Client.Cluster;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Results;
using Descent.Sweeps;
using Descent.Testing;
using Orleans.Runtime;
using static Bench;

/// <summary>
/// The chaos benchmark of issue 11: the real descent-client runs a sweep of short trials on a real cluster (redis-server
/// and <see cref="Settings.Silos"/> descent-silo processes on 127.0.0.2, .3, ..., Redis clustering, storage and
/// reminders, Descent's membership defaults) while one silo is SIGKILLed every <see cref="Settings.KillEvery"/>, round
/// robin, and started again on its address and ports. Measured: trials lost and duplicated (from results.json and
/// trials.jsonl against the plan), the time from each kill until Redis' membership table marks that silo generation
/// dead, until the trials it cut were queued and ran again, how long the sweep's coordinator kept callers waiting, and
/// the fraction of device time spent training, with where the rest went. Every process is ended at the end, on failure
/// and on Ctrl-C, SIGTERM or SIGHUP.
/// </summary>
static partial class Chaos
{
    /// <param name="RestartAfter">How long after its kill a silo is started again; null: as soon as the membership table
    /// marks it dead (a machine that reboots; the failure detector, not the silo's successor, declares it dead).</param>
    /// <param name="Steps">Outer steps per trial: its length.</param>
    /// <param name="Baseline">Run the same trials once without kills first, for the fraction of device time spent training
    /// without chaos.</param>
    public sealed record Settings(int Trials, int Silos, TimeSpan KillEvery, int SlotsPerSilo, TimeSpan? RestartAfter, int Steps, bool Baseline)
    {
        public static Settings Parse(IReadOnlyList<string> args)
        {
            var s = new Settings(1000, 4, TimeSpan.FromSeconds(10), 1, null, 100, false);
            for (var i = 0; i < args.Count; i++)
            {
                string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Count(int min)
                {
                    var option = args[i];
                    var text = Value();
                    return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min
                        ? n : throw new ArgumentException($"{option} = \"{text}\": expected a whole number of at least {min}");
                }
                s = args[i] switch
                {
                    "--trials" => s with { Trials = Count(1) },
                    "--silos" => s with { Silos = Count(2) },
                    "--slots-per-silo" => s with { SlotsPerSilo = Count(1) },
                    "--steps" => s with { Steps = Count(1) },
                    "--baseline" => s with { Baseline = true },
                    "--kill-every" => s with { KillEvery = Duration(args[i], Value(), min: TimeSpan.FromSeconds(1)) },
                    "--restart-after" => s with { RestartAfter = Value() is var v && v == "dead" ? null : Duration("--restart-after", v, min: TimeSpan.Zero) },
                    _ => throw new ArgumentException($"unknown option {args[i]} (chaos takes --trials N, --silos N, --kill-every 10s, --slots-per-silo N, --restart-after dead|DURATION, --steps N, --baseline)"),
                };
            }
            if (s.Silos > 253) throw new ArgumentException($"--silos = {s.Silos}: at most 253 (addresses 127.0.0.2 to 127.0.0.254)");
            return s;
        }

        /// <summary>"10s", "500ms", "2m" or a number of seconds.</summary>
        static TimeSpan Duration(string option, string text, TimeSpan min)
        {
            var match = DurationPattern().Match(text);
            if (match.Success && double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                var value = match.Groups[2].Value switch { "ms" => TimeSpan.FromMilliseconds(n), "m" => TimeSpan.FromMinutes(n), _ => TimeSpan.FromSeconds(n) };
                if (value >= min) return value;
            }
            throw new ArgumentException($"{option} = \"{text}\": expected a duration of at least {min.TotalSeconds:0.###} s such as 10s, 500ms or 2m");
        }
    }

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$")]
    private static partial Regex DurationPattern();

    static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(5);
    static readonly TimeSpan SweepTimeout = TimeSpan.FromMinutes(60);
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    static readonly TimeSpan DetectionTimeout = TimeSpan.FromMinutes(2);

    /// <summary>A silo process's time in the cluster: from its start to its kill, or to the end of the run.</summary>
    sealed class Lifetime(string endpoint, DateTimeOffset spawned)
    {
        public string Endpoint { get; } = endpoint;
        public DateTimeOffset Spawned { get; } = spawned;
        /// <summary>When it said "Application started": a member with its device worker running.</summary>
        public DateTimeOffset? Ready;
        public DateTimeOffset? Ended;
        public string? Generation;
    }

    /// <summary>One SIGKILL and what followed it.</summary>
    sealed class Kill(int number, SiloProcess victim, string generation, DateTimeOffset at, IReadOnlyList<TrialProgress> running)
    {
        public int Number { get; } = number;
        public SiloProcess Victim { get; } = victim;
        public string Generation { get; } = generation;
        public DateTimeOffset At { get; } = at;
        /// <summary>The trials the coordinator had on the victim just before the kill (a snapshot asked for then).</summary>
        public IReadOnlyList<TrialProgress> Running { get; } = running;
        public DateTimeOffset? DeadAt;
        public IReadOnlyList<string> Voters = [];
        public DateTimeOffset? RestartedAt, ReadyAt;
        public string? Failure;
    }

    /// <summary>Follows the sweep through its coordinator as an Orleans client of the cluster: which trials run where
    /// and since when (<see cref="ISweepCoordinatorGrain.GetSnapshot"/>, which interleaves with every other call), and
    /// how long the coordinator takes to answer a call that does not interleave (<see cref="ISweepCoordinatorGrain.Renew"/>
    /// with no leases: it changes nothing), which waits as a device's lease request does while the coordinator awaits
    /// another grain.</summary>
    sealed class SweepWatch(ClusterConnection connection, string sweepId) : IAsyncDisposable
    {
        static readonly TimeSpan Every = TimeSpan.FromMilliseconds(250);
        static readonly TimeSpan Wait = TimeSpan.FromSeconds(2);
        static readonly TimeSpan ProbeWait = TimeSpan.FromSeconds(10);

        readonly ISweepCoordinatorGrain _coordinator = connection.Grains.GetGrain<ISweepCoordinatorGrain>(sweepId);
        readonly CancellationTokenSource _stop = new();
        readonly ConcurrentQueue<(DateTimeOffset Sent, double Seconds, bool Answered)> _probes = new();
        Task[] _loops = [];

        /// <summary>When each (trial, attempt) was first seen running.</summary>
        public ConcurrentDictionary<(string Trial, int Attempt), DateTimeOffset> FirstSeen { get; } = new();

        public SweepSnapshot? Last { get; private set; }

        public void Start() => _loops =
        [
            Every250(async () => await Ask()),
            // A probe every 250 ms whatever became of the previous ones: one sent through a gateway that was just
            // killed waits for Orleans' response timeout, and must not hide the others.
            Every250(() =>
            {
                _ = Probe();
                return Task.CompletedTask;
            }),
        ];

        async Task Probe()
        {
            var sent = DateTimeOffset.UtcNow;
            try
            {
                await _coordinator.Renew("chaos-benchmark", []).WaitAsync(ProbeWait, _stop.Token);
                _probes.Enqueue((sent, (DateTimeOffset.UtcNow - sent).TotalSeconds, true));
            }
            catch (Exception) when (!_stop.IsCancellationRequested)
            {
                // The coordinator was lost with its silo, or so was this client's gateway, or no answer within 10 s.
                _probes.Enqueue((sent, (DateTimeOffset.UtcNow - sent).TotalSeconds, false));
            }
            catch (OperationCanceledException)
            {
            }
        }

        Task Every250(Func<Task> poll) => Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                await poll();
                try { await Task.Delay(Every, _stop.Token); } catch (OperationCanceledException) { }
            }
        });

        /// <summary>The longest a non-interleaving call sent between <paramref name="from"/> and <paramref name="to"/>
        /// waited for its answer, in seconds, and whether one got none (the coordinator or this client's gateway was
        /// lost with its silo); null when none was answered.</summary>
        public (double Longest, bool Unanswered)? Blocked(DateTimeOffset from, DateTimeOffset to)
        {
            var probes = _probes.Where(p => p.Sent >= from && p.Sent < to).ToList();
            return probes.Any(p => p.Answered) ? (probes.Where(p => p.Answered).Max(p => p.Seconds), probes.Any(p => !p.Answered)) : null;
        }

        /// <summary>A snapshot now, or null when the coordinator does not answer within 2 s.</summary>
        public async Task<SweepSnapshot?> Ask()
        {
            try
            {
                var snapshot = await _coordinator.GetSnapshot().WaitAsync(Wait);
                var answered = DateTimeOffset.UtcNow;
                foreach (var r in snapshot.Running) FirstSeen.TryAdd((r.TrialId, r.Attempt), answered);
                Last = snapshot;
                return snapshot;
            }
            catch (Exception)
            {
                return null; // its silo was lost, or the call timed out
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await Task.WhenAll(_loops);
            await connection.DisposeAsync();
        }
    }

    public static async Task<int> Run(Settings s)
    {
        var work = Directory.CreateTempSubdirectory("descent-chaos-").FullName;
        var loadAtStart = LoadAverage();
        using var cancel = new CancellationTokenSource();
        // Ctrl-C, SIGTERM, a closed terminal: stop, and end every process (the finally below).
        var signals = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }
            .Select(signal => PosixSignalRegistration.Create(signal, c => { c.Cancel = true; cancel.Cancel(); })).ToList();
        RealCluster? cluster = null;
        var running = new Running();
        var token = cancel.Token;
        try
        {
            var plan = GridFile.Load(WriteGrid(work, "chaos", s));
            Console.WriteLine($"Chaos: {plan.Trials.Count} trials ({TaskText}, sgd and adam at {Rates.Length} learning rates, {s.Steps} steps, " +
                              $"{plan.Repeats} seeds each) over {s.Silos} silos x {s.SlotsPerSilo} CPU slot(s)");
            Console.WriteLine($"  redis clustering, storage and reminders; leases {LeaseTimeout.TotalSeconds:0} s; Descent's membership defaults; one silo SIGKILLed every " +
                              $"{s.KillEvery.TotalSeconds:0.#} s (round robin), started again " +
                              (s.RestartAfter is { } after ? $"{after.TotalSeconds:0.#} s after its kill" : "once the membership table marks it dead"));
            Console.WriteLine($"  {Environment.ProcessorCount} cores, load average {loadAtStart} at the start; work folder {work}");
            Console.Out.Flush();

            var lifetimes = new List<Lifetime>();
            var spawned = DateTimeOffset.UtcNow;
            // The silos share this machine's cores as separate hosts would not: each is told it has its share
            // (Environment.ProcessorCount, hence its torch threads per slot and its GC heaps), so that they do not
            // oversubscribe the cores with threads that spin.
            var share = Math.Max(1, Environment.ProcessorCount / s.Silos);
            cluster = await RealCluster.Start(work, new LoopbackNetwork(), s.Silos, new Dictionary<string, string> { ["DOTNET_PROCESSOR_COUNT"] = $"{share}" },
            [
                $"--Descent:Devices:CpuSlots={s.SlotsPerSilo}", $"--Descent:Leases:Timeout={LeaseTimeout:c}",
                // Logs with UTC times on one line each, for the reasons trials were placed again; Polly's per-call lines off.
                "--Logging:Console:FormatterName=simple", "--Logging:Console:FormatterOptions:SingleLine=true",
                "--Logging:Console:FormatterOptions:UseUtcTimestamp=true", "--Logging:Console:FormatterOptions:TimestampFormat=yyyy-MM-dd'T'HH:mm:ss.fff'Z' ",
                "--Logging:LogLevel:Polly=Warning", "--Logging:LogLevel:Descent=Debug",
            ]);
            var ready = DateTimeOffset.UtcNow;
            var rows = await cluster.MembershipRows();
            foreach (var silo in cluster.Silos)
                lifetimes.Add(new Lifetime(Endpoint(silo), spawned) { Ready = ready, Generation = Newest(rows, Endpoint(silo), SiloStatus.Active) });

            double? baseline = null;
            if (s.Baseline)
            {
                var quiet = await Sweep(s, cluster, WriteGrid(work, "baseline", s), Path.Combine(work, "baseline"), lifetimes, chaos: false, running, token);
                baseline = Accounting.Of(s, quiet, lifetimes).Fraction;
                Console.WriteLine($"  without kills first: the same trials (sweep {quiet.Results.Sweep.Id}) spent {F(baseline.Value, 3)} of the device time training");
            }
            var run = await Sweep(s, cluster, Path.Combine(work, "chaos.json"), Path.Combine(work, "runs"), lifetimes, chaos: true, running, token);
            await File.WriteAllTextAsync(Path.Combine(work, "chaos-run.json"), JsonSerializer.Serialize(new
            {
                kills = run.Kills.Select(k => new
                {
                    k.Number, silo = k.Generation, at = k.At, dead_at = k.DeadAt, voters = k.Voters, restarted_at = k.RestartedAt, ready_at = k.ReadyAt,
                    running = k.Running.Select(r => new { trial = r.TrialId, attempt = r.Attempt, device = r.Device }), failure = k.Failure,
                }),
                lifetimes = lifetimes.Select(l => new { l.Endpoint, silo = l.Generation, spawned = l.Spawned, ready = l.Ready, ended = l.Ended }),
            }, new JsonSerializerOptions { WriteIndented = true }), token);
            var failed = Report(s, plan, run, lifetimes, cluster.Silos.Select(silo => silo.Log).ToList(), baseline);
            Console.WriteLine($"  load average at the end: {LoadAverage()}; sweep {run.Results.Sweep.Id}; logs, results and every kill (chaos-run.json) in {work}");
            return failed ? 1 : 0;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            Console.Error.WriteLine($"descent-benchmarks: chaos stopped; its processes are ended (logs in {work}/logs)");
            return 130;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or ClusterUnavailableException or IOException or JsonException)
        {
            Console.Error.WriteLine($"descent-benchmarks: chaos failed: {e.Message} (logs in {work}/logs)");
            return 1;
        }
        finally
        {
            if (running.Watch is not null) await running.Watch.DisposeAsync();
            SaveLogs(work, cluster, running.Client);
            running.Client?.Dispose();
            cluster?.Dispose();
            foreach (var signal in signals) signal.Dispose();
        }
    }

    /// <summary>The processes and connections of the sweep running now, ended by <see cref="Run"/> however it ends.</summary>
    sealed class Running
    {
        public RunningProcess? Client;
        public SweepWatch? Watch;
    }

    /// <summary>A sweep as it ran: its results, its journal and, with chaos, every kill.</summary>
    sealed record SweepRun(ResultsDocument Results, IReadOnlyList<TrialEntry> Journal, List<Kill> Kills, SweepWatch? Watch);

    /// <summary>Runs the real descent-client on <paramref name="grid"/> to its end; with <paramref name="chaos"/>, kills a
    /// silo every <see cref="Settings.KillEvery"/> meanwhile and starts it again.</summary>
    static async Task<SweepRun> Sweep(Settings s, RealCluster cluster, string grid, string runs, List<Lifetime> lifetimes, bool chaos, Running running, CancellationToken token)
    {
        running.Client?.Dispose(); // the previous sweep's, which has exited
        var client = running.Client = RunningProcess.Client(cluster.Folder, ["sweep", grid, "--out", runs, "--json", .. cluster.ClientOptions]);
        var sweepFolder = await SweepFolder(runs, client, token);
        var kills = new List<Kill>();
        SweepWatch? watch = null;
        var exited = client.Exit(SweepTimeout, token);
        if (chaos)
        {
            watch = running.Watch = new SweepWatch(await ClusterConnection.Open(ClusterTarget.From(cluster.Redis.Url, cluster.ClusterId, null, false), token),
                Path.GetFileName(sweepFolder));
            watch.Start();
            var followUps = new List<Task>();
            var restarting = new Dictionary<SiloProcess, Task>();
            var next = DateTimeOffset.UtcNow + s.KillEvery;
            for (var k = 0; ; k++)
            {
                if (await Task.WhenAny(exited, Task.Delay(Until(next), token)) == exited) break;
                next += s.KillEvery;
                if (watch.Last?.Status is SweepStatus.Done or SweepStatus.Cancelled) continue;
                var victim = cluster.Silos[k % s.Silos];
                if (restarting.TryGetValue(victim, out var restart)) await restart.WaitAsync(token);
                if (!victim.Running) continue; // it failed to start again: reported with the kill
                var generation = await ActiveGeneration(cluster, victim, token);
                // What the coordinator has on the victim, asked just before the kill.
                var before = await watch.Ask() ?? watch.Last;
                var onVictim = before?.Running.Where(r => r.Silo == generation).ToList() ?? [];
                var at = DateTimeOffset.UtcNow;
                await victim.Kill();
                lock (lifetimes) lifetimes.Last(l => l.Endpoint == Endpoint(victim)).Ended = at;
                var kill = new Kill(k + 1, victim, generation, at, onVictim);
                kills.Add(kill);
                var dead = WaitForDead(cluster, kill, token);
                followUps.Add(dead);
                restarting[victim] = StartAgain(cluster, kill, s.RestartAfter is { } delay ? Task.Delay(Until(at + delay), token) : dead, lifetimes, token);
                followUps.Add(restarting[victim]);
            }
            await Task.WhenAll(followUps).WaitAsync(TimeSpan.FromMinutes(3), token);
        }
        var exit = await exited;
        if (exit != 0) throw new InvalidOperationException($"descent-client exited {exit}:\n{client.Err}");
        var results = ResultsJson.Read(await File.ReadAllBytesAsync(Path.Combine(sweepFolder, "results.json"), token));
        var (_, journal) = TrialsJournal.Read(Path.Combine(sweepFolder, TrialsJournal.FileName));
        File.WriteAllText(Path.Combine(sweepFolder, "client.log"), client.Err);
        return new SweepRun(results, journal, kills, watch);
    }

    static readonly double[] Rates = [0.001, 0.002, 0.005, 0.01, 0.02];
    const string TaskText = "synthetic 2000 x 10, 2 hidden layers of 10";

    /// <summary>sgd and adam at five learning rates, each under enough seeds for <see cref="Settings.Trials"/> trials.</summary>
    static string WriteGrid(string work, string name, Settings s)
    {
        var path = Path.Combine(work, $"{name}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new
        {
            name,
            task = new { kind = "synthetic", n_row = 2000, dim_in = 10, dim_hidden = 10, n_layers = 2, seed = 0 },
            budget = new { steps = s.Steps },
            method = "grid",
            repeats = (s.Trials + 2 * Rates.Length - 1) / (2 * Rates.Length),
            parameters = new { optimizer = new { values = new[] { "sgd", "adam" } }, lr = new { values = Rates } },
        }));
        return path;
    }

    static string Endpoint(SiloProcess silo) => $"{silo.Address}:{silo.SiloPort}";

    static string? Newest(IEnumerable<MembershipRow> rows, string endpoint, SiloStatus status) =>
        rows.Where(r => r.Endpoint == endpoint && r.Status == status).MaxBy(r => r.Generation)?.Silo;

    static TimeSpan Until(DateTimeOffset time) => time > DateTimeOffset.UtcNow ? time - DateTimeOffset.UtcNow : TimeSpan.Zero;

    /// <summary>The sweep's folder under <paramref name="runs"/>, once the client has written its journal.</summary>
    static async Task<string> SweepFolder(string runs, RunningProcess client, CancellationToken token)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            if (Directory.Exists(runs) && Directory.GetDirectories(runs) is [var folder] && File.Exists(Path.Combine(folder, TrialsJournal.FileName)))
                return folder;
            if (client.HasExited) throw new InvalidOperationException($"descent-client exited before the sweep started:\n{client.Err}");
            if (DateTimeOffset.UtcNow > deadline) throw new TimeoutException($"the sweep did not start within 2 minutes:\n{client.Err}");
            await Task.Delay(100, token);
        }
    }

    /// <summary>The victim's active generation in the membership table (waits for it while the silo joins).</summary>
    static async Task<string> ActiveGeneration(RealCluster cluster, SiloProcess silo, CancellationToken token)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var rows = await cluster.MembershipRows();
            if (Newest(rows, Endpoint(silo), SiloStatus.Active) is { } active) return active;
            if (DateTimeOffset.UtcNow > deadline)
                return Newest(rows, Endpoint(silo), SiloStatus.Joining) ?? throw new InvalidOperationException($"{silo.Name} has no row in the membership table");
            await Task.Delay(Poll, token);
        }
    }

    /// <summary>Polls Redis' membership table until the killed generation's row says Dead.</summary>
    static async Task WaitForDead(RealCluster cluster, Kill kill, CancellationToken token)
    {
        while (DateTimeOffset.UtcNow - kill.At < DetectionTimeout)
        {
            var rows = await cluster.MembershipRows();
            if (rows.FirstOrDefault(r => r.Silo == kill.Generation) is { Status: SiloStatus.Dead } row)
            {
                (kill.DeadAt, kill.Voters) = (DateTimeOffset.UtcNow, row.Voters);
                return;
            }
            await Task.Delay(Poll, token);
        }
    }

    static async Task StartAgain(RealCluster cluster, Kill kill, Task when, List<Lifetime> lifetimes, CancellationToken token)
    {
        await when;
        var lifetime = new Lifetime(Endpoint(kill.Victim), DateTimeOffset.UtcNow);
        lock (lifetimes) lifetimes.Add(lifetime);
        kill.RestartedAt = lifetime.Spawned;
        try
        {
            await kill.Victim.Start();
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            kill.Failure = $"{kill.Victim.Name} did not start again: {e.Message.Split('\n')[0]}";
            Console.Error.WriteLine($"kill {kill.Number}: {kill.Failure}");
            lifetime.Ended = DateTimeOffset.UtcNow;
            return;
        }
        kill.ReadyAt = lifetime.Ready = DateTimeOffset.UtcNow;
        lifetime.Generation = await ActiveGeneration(cluster, kill.Victim, token);
        Console.Error.WriteLine($"kill {kill.Number}: {kill.Victim.Name} ({kill.Generation}) with {kill.Running.Count} trial(s) running; " +
            (kill.DeadAt is { } dead ? $"dead after {(dead - kill.At).TotalSeconds:0.0} s ({kill.Voters.Count} votes)" : "not yet dead") +
            $"; up again after {(kill.ReadyAt.Value - kill.At).TotalSeconds:0.0} s");
    }

    /// <summary>Device time within a sweep: every silo generation from "Application started" to its kill (or the
    /// sweep's end) times its slots, and the accepted attempt of every trial, from its start to its end on its device.</summary>
    sealed class Accounting(Settings s, List<Lifetime> lifetimes, DateTimeOffset start, DateTimeOffset end, IReadOnlyList<TrialEntry> accepted)
    {
        public DateTimeOffset Start { get; } = start;
        public DateTimeOffset End { get; } = end;
        public IReadOnlyList<TrialEntry> Accepted { get; } = accepted;

        public static Accounting Of(Settings s, SweepRun run, List<Lifetime> lifetimes)
        {
            var start = run.Results.Sweep.StartedAt!.Value;
            var end = run.Results.Sweep.FinishedAt ?? run.Results.Trials.Max(t => t.FinishedAt) ?? DateTimeOffset.UtcNow;
            return new Accounting(s, lifetimes, start, end, [.. run.Results.Trials.Where(t => t is { StartedAt: not null, FinishedAt: not null })]);
        }

        static double Overlap(DateTimeOffset a0, DateTimeOffset a1, DateTimeOffset b0, DateTimeOffset b1) =>
            Math.Max(0, ((a1 < b1 ? a1 : b1) - (a0 > b0 ? a0 : b0)).TotalSeconds);

        /// <summary>Slot-seconds the silos were up between <paramref name="from"/> and <paramref name="to"/> (from their
        /// process start with <paramref name="fromSpawn"/>).</summary>
        public double Up(DateTimeOffset from, DateTimeOffset to, bool fromSpawn = false) => s.SlotsPerSilo * lifetimes
            .Where(l => l.Ready is not null || fromSpawn)
            .Sum(l => Overlap(fromSpawn ? l.Spawned : l.Ready!.Value, l.Ended ?? End, from, to));

        public double Trained(DateTimeOffset from, DateTimeOffset to) => Accepted.Sum(t => Overlap(t.StartedAt!.Value, t.FinishedAt!.Value, from, to));

        public double Fraction => Trained(Start, End) / Up(Start, End);
    }

    /// <summary>Prints the per-kill table and the summary; true when a trial was lost or duplicated (or a silo did not
    /// start again).</summary>
    static bool Report(Settings s, SweepPlan plan, SweepRun run, List<Lifetime> lifetimes, IReadOnlyList<string> logs, double? baseline)
    {
        var (results, journal, kills, watch) = (run.Results, run.Journal, run.Kills, run.Watch!);
        var time = Accounting.Of(s, run, lifetimes);
        var (start, end) = (time.Start, time.End);
        var byId = results.Trials.GroupBy(t => t.Id).ToDictionary(g => g.Key, g => g.First());
        var up = time.Up(start, end);
        var upWithStart = time.Up(start, end, fromSpawn: true);
        var trained = time.Trained(start, end);

        // The silos' log lines of this sweep (the baseline's came before it).
        var lines = logs.SelectMany(l => l.Split('\n')).Where(l => Time(l) is { } t && t >= start).ToList();
        var rebuilds = lines.Where(l => l.Contains(" rebuilt from its trials", StringComparison.Ordinal)).Select(Time).OfType<DateTimeOffset>().Order().ToList();
        // A lost lease is logged by the trial grain with its reason: queued again, or failed after too many.
        var lostLeases = lines.Where(l => l.Contains(" is queued again: ", StringComparison.Ordinal) || l.Contains("; gave up after ", StringComparison.Ordinal)).ToList();
        DateTimeOffset? Requeued(string trialId, DateTimeOffset after) => lostLeases
            .Where(l => l.Contains($"/{trialId} ", StringComparison.Ordinal)).Select(Time).Where(t => t > after).Min();
        static string Seconds(IReadOnlyList<double> values) => values.Count == 0 ? "-" : $"{F(Median(values), 1)}, {F(values.Max(), 1)}";

        // Per kill: the attempts it cut short (the coordinator's snapshot just before, checked against the results), when
        // they were queued again (the trial grain's log) and ran again, and at most how much device time they had spent
        // (since their slot's previous result).
        var cut = 0;
        var wasted = 0.0;
        var stalled = 0.0;
        var requeuedAfter = new List<double>();
        var ranAfter = new List<double>();
        var rows = new List<string[]>();
        foreach (var kill in kills)
        {
            var lost = kill.Running.Where(r => byId.TryGetValue(r.TrialId, out var t) && t.Attempts > r.Attempt).ToList();
            cut += lost.Count;
            var requeued = new List<double>();
            var ran = new List<double>();
            foreach (var r in lost)
            {
                var trial = byId[r.TrialId];
                if (Requeued(r.TrialId, kill.At) is { } queued) requeued.Add((queued - kill.At).TotalSeconds);
                DateTimeOffset? again = trial.Attempts == r.Attempt + 1 ? trial.StartedAt
                    : watch.FirstSeen.TryGetValue((r.TrialId, r.Attempt + 1), out var seen) ? seen : null;
                if (again is { } a) ran.Add((a - kill.At).TotalSeconds);
                var lifetime = lifetimes.FirstOrDefault(l => l.Generation == kill.Generation);
                var since = time.Accepted.Where(t => t.Silo == kill.Generation && t.Device == r.Device && t.FinishedAt <= kill.At)
                    .Select(t => t.FinishedAt!.Value).Append(lifetime?.Ready ?? start).Append(start).Max();
                wasted += Math.Max(0, (kill.At - since).TotalSeconds);
            }
            requeuedAfter.AddRange(requeued);
            ranAfter.AddRange(ran);
            // The other silos' idle time from the kill until a second after the membership table marked it dead.
            var detected = (kill.DeadAt ?? kill.At) + TimeSpan.FromSeconds(1);
            stalled += time.Up(kill.At, detected) - time.Trained(kill.At, detected);
            var window = kill.At + s.KillEvery;
            var windowUp = time.Up(kill.At, window);
            rows.Add([
                $"{kill.Number}", kill.Victim.Address.ToString(), F((kill.At - start).TotalSeconds, 1),
                kill.DeadAt is { } dead ? F((dead - kill.At).TotalSeconds, 1) : "never",
                kill.DeadAt is null ? "" : $"{kill.Voters.Count}",
                rebuilds.Where(r => r > kill.At && r <= window).Select(r => (DateTimeOffset?)r).FirstOrDefault() is { } rebuilt ? F((rebuilt - kill.At).TotalSeconds, 1) : "",
                watch.Blocked(kill.At, window) is { } blocked ? F(blocked.Longest, 1) + (blocked.Unanswered ? "+" : "") : "",
                $"{lost.Count}",
                lost.Count == 0 ? "" : requeued.Count == lost.Count ? F(requeued.Max(), 1) : "?",
                lost.Count == 0 ? "" : ran.Count == lost.Count ? F(ran.Max(), 1) : "?",
                kill.ReadyAt is { } back ? F((back - kill.At).TotalSeconds, 1) : kill.Failure is null ? "-" : "failed",
                windowUp > 0 ? F(time.Trained(kill.At, window) / windowUp, 2) : "",
            ]);
        }
        Console.WriteLine();
        Console.WriteLine($"Kills ({kills.Count}; at: seconds after the sweep started; the rest: seconds after the kill; waits: the longest " +
                          $"a call to the coordinator that does not interleave waited, sent in the {s.KillEvery.TotalSeconds:0} s after the kill, + when one got no answer)");
        if (rows.Count > 0)
            Table(["kill", "silo", "at", "dead", "votes", "coordinator rebuilt", "waits", "trials cut", "queued again", "ran again", "silo up again",
                $"training in the next {s.KillEvery.TotalSeconds:0} s"], rows);

        // Lost: planned trials that did not complete. Duplicated: a trial id more than once in results.json or in
        // trials.jsonl, a trial the plan does not have, or two different results for one trial (the journal's line and
        // results.json's row from different attempts).
        var planned = plan.Trials.Select(t => t.Id).ToHashSet();
        var lostTrials = plan.Trials.Where(t => byId.GetValueOrDefault(t.Id)?.Status != TrialStatus.Completed).ToList();
        var journalById = journal.GroupBy(t => t.Id).ToDictionary(g => g.Key, g => g.ToList());
        var duplicated = new HashSet<string>();
        duplicated.UnionWith(results.Trials.GroupBy(t => t.Id).Where(g => g.Count() > 1).Select(g => g.Key));
        duplicated.UnionWith(journalById.Where(g => g.Value.Count > 1).Select(g => g.Key));
        duplicated.UnionWith(results.Trials.Select(t => t.Id).Concat(journalById.Keys).Where(id => !planned.Contains(id)));
        duplicated.UnionWith(journalById.Where(g => byId.TryGetValue(g.Key, out var t) && g.Value.Any(j => j.Attempts != t.Attempts || j.FinishedAt != t.FinishedAt)).Select(g => g.Key));

        // Why leases were lost, from the trial grains' log lines.
        var byDeath = lostLeases.Count(l => l.Contains(" left the cluster", StringComparison.Ordinal));
        var byLease = lostLeases.Where(l => l.Contains("expired: no sign of life", StringComparison.Ordinal)).Select(l => (Line: l, Silo: LeaseSilo().Match(l).Groups[1].Value)).ToList();
        var killed = kills.ToDictionary(k => k.Generation, k => k.At);
        // A coordinator rebuilt from its trials does not know where a running trial was (its message says "silo ?").
        var holderUnknown = byLease.Count(l => l.Silo == "?");
        var onLiveSilos = byLease.Count(l => l.Silo != "?" && Time(l.Line) is { } when && !(killed.TryGetValue(l.Silo, out var at) && at <= when));
        var handedBack = lostLeases.Count(l => l.Contains(" shut down", StringComparison.Ordinal));
        var gaveUp = lostLeases.Count(l => l.Contains("; gave up after ", StringComparison.Ordinal));
        var ahead = lostLeases.Count(l => l.Contains("leased ahead and had not started", StringComparison.Ordinal));
        // "Ignoring the result of trial T attempt A: the trial is S at attempt B": A < B a late result of an older
        // attempt; A = B the accepted result reported again (a retried call whose first reply was lost).
        var ignored = lines.Select(l => IgnoredResult().Match(l)).Where(m => m.Success).Select(m => (Attempt: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Current: int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))).ToList();
        var extraAttempts = results.Trials.Sum(t => Math.Max(0, t.Attempts - 1));
        // The device workers' lease requests that failed (debug log), by exception.
        var leaseFailures = lines.Where(l => l.Contains(" for work failed ", StringComparison.Ordinal))
            .GroupBy(l => l[(l.IndexOf(" for work failed ", StringComparison.Ordinal) + 17)..].Split(':', ' ')[0]).OrderByDescending(g => g.Count()).ToList();
        var quiet = kills.Count == 0 ? null : watch.Blocked(start, kills[0].At);

        var detections = kills.Where(k => k.DeadAt is not null).Select(k => (k.DeadAt!.Value - k.At).TotalSeconds).ToList();
        var byVotes = kills.Count(k => k.DeadAt is not null && k.Voters.Count > 0);
        var durations = time.Accepted.Select(t => (t.FinishedAt!.Value - t.StartedAt!.Value).TotalSeconds).ToList();
        var restarts = lifetimes.Where(l => l.Ready is not null && l.Spawned > start).Select(l => (l.Ready!.Value - l.Spawned).TotalSeconds).ToList();
        var rest = up - trained - wasted - stalled;

        Console.WriteLine($"Summary ({results.Trials.Count} trials, median {F(Median(durations), 2)} s each on its device; {F((end - start).TotalSeconds, 0)} s from the sweep's start to its end)");
        Table(["", "measured", "goal"],
        [
            ["trials lost (planned, not completed)", $"{lostTrials.Count}", "0"],
            ["trials duplicated", $"{duplicated.Count}", "0"],
            ["time to detect a loss, s (median, max)", detections.Count == 0 ? "none detected" : Seconds(detections), "Orleans' defaults: 10.6-14.8"],
            ["  declared dead by votes of other silos", $"{byVotes} of {kills.Count}", ""],
            ["  its cut trials queued again, s (median, max)", Seconds(requeuedAfter), ""],
            ["  its cut trials ran again, s (median, max)", Seconds(ranAfter), ""],
            ["a call to the coordinator that does not interleave waited, s", "", ""],
            ["  at most, before the first kill", quiet is { } q ? F(q.Longest, 2) : "-", ""],
            ["  at most, in the 10 s after a kill (median, max)", Seconds([.. kills.Select(k => watch.Blocked(k.At, k.At + s.KillEvery)).OfType<(double Longest, bool Unanswered)>().Select(b => b.Longest)]), ""],
            ["fraction of device time training", F(trained / up, 3), ">= 0.8"],
            .. baseline is { } b ? [["  the same trials without kills (--baseline)", F(b, 3), ""]] : Array.Empty<string[]>(),
            ["  counting each restart's start-up as device time", F(trained / upWithStart, 3), ""],
        ]);
        Console.WriteLine("Device time (slot-seconds within the sweep; a silo counts from \"Application started\" to its kill)");
        Table(["", "slot-s", "share"],
        [
            ["up", F(up, 1), "100%"],
            ["training (accepted attempts)", F(trained, 1), P(trained / up)],
            ["attempts cut by kills (at most)", F(wasted, 1), P(wasted / up)],
            ["idle from each kill to 1 s after it was declared dead", F(stalled, 1), P(stalled / up)],
            ["idle otherwise (between trials, the sweep's tail)", F(rest, 1), P(rest / up)],
            ["starting again (process start to ready; not in up)", F(upWithStart - up, 1), $"median {(restarts.Count == 0 ? "-" : F(Median(restarts), 1))} s a start"],
        ]);
        Console.WriteLine("Attempts");
        Table(["", "count"],
        [
            ["trials placed more than once (extra attempts)", $"{results.Trials.Count(t => t.Attempts > 1)} ({extraAttempts})"],
            ["  attempts running on a silo when it was killed", $"{cut}"],
            ["lost leases (silo logs)", $"{lostLeases.Count}"],
            ["  its silo was declared dead", $"{byDeath}"],
            ["  its lease expired", $"{byLease.Count}"],
            ["    held on a silo not killed (yet)", $"{onLiveSilos}"],
            ["    holder unknown to a rebuilt coordinator", $"{holderUnknown}"],
            ["  handed back by a stopping silo", $"{handedBack}"],
            ["  held ready (leased ahead), not started: no retry spent", $"{ahead}"],
            ["results refused: an older attempt's", $"{ignored.Count(i => i.Attempt < i.Current)}"],
            ["results refused: the accepted one again", $"{ignored.Count(i => i.Attempt == i.Current)}"],
            ["trials failed after too many lost leases", $"{gaveUp}"],
            ["lease requests that failed (device workers)", $"{leaseFailures.Sum(g => g.Count())}"],
            .. leaseFailures.Take(4).Select(g => new[] { $"  {g.Key}", $"{g.Count()}" }),
            ["coordinator rebuilt from its trials", $"{rebuilds.Count}"],
        ]);
        foreach (var t in lostTrials.Take(10))
            Console.WriteLine($"  lost: {t.Id} {(byId.GetValueOrDefault(t.Id) is { } r ? $"{r.Status.Name()} after {r.Attempts} attempts: {r.Message}" : "missing from results.json")}");
        foreach (var id in duplicated.Take(10)) Console.WriteLine($"  duplicated: {id}");
        foreach (var kill in kills.Where(k => k.Failure is not null)) Console.WriteLine($"  kill {kill.Number}: {kill.Failure}");
        return lostTrials.Count > 0 || duplicated.Count > 0 || kills.Any(k => k.Failure is not null);
    }

    [GeneratedRegex(@"Ignoring the result of trial \S+ attempt (\d+): the trial is \S+ at attempt (\d+)")]
    private static partial Regex IgnoredResult();

    [GeneratedRegex(@"of silo (\S+) for ")]
    private static partial Regex LeaseSilo();

    /// <summary>The UTC time at the start of a silo's log line.</summary>
    static DateTimeOffset? Time(string line) =>
        DateTimeOffset.TryParse(line.Split(' ', 2)[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    static void SaveLogs(string work, RealCluster? cluster, RunningProcess? client)
    {
        var logs = Directory.CreateDirectory(Path.Combine(work, "logs")).FullName;
        foreach (var silo in cluster?.Silos ?? []) File.WriteAllText(Path.Combine(logs, $"silo-{silo.Address}.log"), silo.Log);
        if (client is not null) File.WriteAllText(Path.Combine(logs, "client.log"), client.Err);
    }
}
