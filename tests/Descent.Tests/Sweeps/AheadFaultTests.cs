using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>
/// A trainer taken for hung gives up what its slot holds ready (<see cref="LeaseOptions.Ahead"/>), including a trial
/// whose lease was on its way while the trainer fell silent: a slot whose trainer never returns must not keep a trial
/// ready for ever (renewed, never run: its sweep would never end).
/// </summary>
[Collection(nameof(SweepClusterTests))]
public sealed class AheadHungTests : IAsyncLifetime
{
    /// <summary>The trial that hangs: the tenth that slot cpu:1 runs.</summary>
    const int HangAt = 10;
    static readonly ManualResetEventSlim Unblock = new(false);
    static int _secondSlotTrials;
    static string? _hungTrial;

    /// <summary>The real runner, except that the <see cref="HangAt"/>-th trial of slot 1 is silent and deaf to
    /// cancellation until the test ends.</summary>
    sealed class HangingRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            if (lease.Slot.Index == 1 && Interlocked.Increment(ref _secondSlotTrials) == HangAt)
            {
                Volatile.Write(ref _hungTrial, lease.TrialId);
                Unblock.Wait();
                return new TrialResult(TrialStatus.Cancelled, "test: unblocked", double.NaN, double.NaN, 0, 0, 0, 0, 0, 0, []);
            }
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    /// <summary>Slot 1's requests for trials to hold ahead take 3 s to come back (a coordinator moving, a slow network):
    /// its trainer is taken for hung while one is on its way.</summary>
    sealed class WithHangingRunnerAndSlowAheadLeases : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.Services.AddSingleton<ITrialRunner>(sp => new HangingRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
            silo.AddOutgoingGrainCallFilter(async context =>
            {
                // Read before the call: its arguments are cleared once it returns.
                var slow = context.MethodName == nameof(ISweepCoordinatorGrain.Lease) && context.Request.GetArgument(1) is true
                    && context.Request.GetArgument(0) is DeviceSlot { Index: 1 } && !Unblock.IsSet;
                await context.Invoke();
                if (slow) await Task.Delay(TimeSpan.FromSeconds(3));
            });
        }
    }

    SweepCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        Unblock.Reset();
        (_secondSlotTrials, _hungTrial) = (0, null);
        _cluster = await SweepCluster.StartAsync<WithHangingRunnerAndSlowAheadLeases>(silos: 1);
    }

    public async Task DisposeAsync()
    {
        Unblock.Set();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_trial_leased_ahead_while_its_slots_trainer_was_taken_for_hung_runs_elsewhere()
    {
        const string id = "ahead-hung";
        var trials = SweepCluster.TinyTrials(120, steps: 5, firstSeed: 9900);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 1));
        // The hung trainer never returns while the sweep runs: the other slot runs everything else, the hung trial's
        // second attempt included, and the trials the hung slot held (or was getting) ready.
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(120));
        Assert.NotNull(Volatile.Read(ref _hungTrial));
        Assert.False(Unblock.IsSet);
        Assert.Equal(trials.Count, done.Count(TrialStatus.Completed));
        var results = await _cluster.Coordinator(id).GetResults();
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
        Assert.Equal(2, results.Single(r => r.TrialId == _hungTrial).Attempts);
    }
}

/// <summary>
/// At a sweep's tail no device idles for long while another holds trials ready: a slot holds <see cref="LeaseOptions.Ahead"/>
/// of its recent trials, but the trial it runs may be far longer than those (a sweep over budgets, model sizes), and
/// what it holds behind it then waited while the other devices had nothing to do (17 of 60 trials started after a
/// 30 s one, the other slot idle for 25 s). Now an idle device takes a trial held ready for over twice Ahead. Also:
/// sweeps are taken in turn (a small sweep beside a large one), and a sweep shows what it holds ready behind another
/// sweep's trial as queued. The long trial takes 40 s, so that slow machines run the rest well before it ends.
/// </summary>
[Collection(nameof(SweepClusterTests))]
public sealed class AheadTailTests : IAsyncLifetime
{
    const long FirstSeed = 9950, LongSeed = FirstSeed + 20, TenthSeeds = FirstSeed + 100;
    static readonly TimeSpan LongFor = TimeSpan.FromSeconds(12);

    /// <summary>The real runner; the trial with seed <see cref="LongSeed"/> first trains for <see cref="LongFor"/>
    /// (showing signs of life), those from <see cref="TenthSeeds"/> for a tenth of a second.</summary>
    sealed class OneLongTrialRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            var length = lease.Spec.Seed == LongSeed ? LongFor : lease.Spec.Seed >= TenthSeeds ? TimeSpan.FromSeconds(0.1) : TimeSpan.Zero;
            SweepCluster.ShowLifeFor(length, heartbeat, cancellation);
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    /// <summary>Slots hold 1 s of work ready (not 5 s): a trial held for twice that is taken by an idle device, so the
    /// long trial need only be well beyond 2 s.</summary>
    sealed class WithOneLongTrial : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.Services.AddSingleton<ITrialRunner>(sp => new OneLongTrialRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
            silo.Services.Configure<LeaseOptions>(o => o.Ahead = TimeSpan.FromSeconds(1));
        }
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<WithOneLongTrial>(silos: 1);
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task No_trial_waits_behind_a_long_one_while_the_other_device_idles()
    {
        const string id = "ahead-tail";
        var trials = SweepCluster.TinyTrials(60, steps: 5, firstSeed: FirstSeed);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(150));
        Assert.Equal(trials.Count, done.Count(TrialStatus.Completed));
        var results = await _cluster.Coordinator(id).GetResults();
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
        // The other slot runs the 59 short trials in far less than the long one takes: none is left to start after it.
        var longOne = results.Single(r => r.Spec.Seed == LongSeed);
        var after = results.Where(r => r.StartedAt >= longOne.FinishedAt).ToList();
        Assert.True(after.Count == 0,
            $"{after.Count} trials started after the long one ended ({longOne.FinishedAt:HH:mm:ss.fff}), held ready behind it on {longOne.Device} "
            + $"while the other slot idled; the other slot's last trial ended at {results.Where(r => r.Device != longOne.Device).Max(r => r.FinishedAt):HH:mm:ss.fff}");
    }

    [Fact]
    public async Task A_small_sweep_gets_a_device_while_a_large_one_runs()
    {
        const string largeId = "ahead-large", smallId = "ahead-small";
        // 400 trials of a tenth of a second: some 20 s on the silo's two slots, which hold trials of it ready throughout.
        var large = SweepCluster.TinyTrials(400, steps: 5, firstSeed: TenthSeeds);
        await _cluster.Coordinator(largeId).Start(new SweepSpec(largeId, large, new RankMetric(), MaxRetries: 0));
        await _cluster.WaitUntil(largeId, s => s.Ended >= 20, TimeSpan.FromSeconds(60));
        // Sweeps are taken in turn: a sweep of one trial starts at a slot's next turn, not when the large one's queue is
        // nearly empty (its trial is never leased ahead while fewer are queued than there are devices, and a slot that
        // holds trials ready asked for no other work).
        var small = SweepCluster.TinyTrials(1, steps: 5, firstSeed: FirstSeed + 1);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await _cluster.Coordinator(smallId).Start(new SweepSpec(smallId, small, new RankMetric(), MaxRetries: 0));
        await _cluster.WaitForEnd(smallId, TimeSpan.FromSeconds(150));
        var took = sw.Elapsed;
        var largeNow = await _cluster.Coordinator(largeId).GetSnapshot();
        Assert.True(took < TimeSpan.FromSeconds(12),
            $"a sweep of one tiny trial took {took.TotalSeconds:0.0} s beside a large one ({largeNow.Ended}/{largeNow.TrialCount} of it ended by then)");
        await _cluster.WaitForEnd(largeId, TimeSpan.FromSeconds(150));
    }

    /// <summary>Starts a sweep of <paramref name="count"/> trials of a tenth of a second and, once a few have ended (the
    /// slots hold some ready), a sweep of the one long trial; the short sweep's trials.</summary>
    async Task<IReadOnlyList<TrialSpec>> StartShortThenLong(string shortId, int count, long firstSeed, string longId)
    {
        var shortTrials = SweepCluster.TinyTrials(count, steps: 5, firstSeed: firstSeed);
        await _cluster.Coordinator(shortId).Start(new SweepSpec(shortId, shortTrials, new RankMetric(), MaxRetries: 0));
        await _cluster.WaitUntil(shortId, s => s.Ended >= 4, TimeSpan.FromSeconds(60));
        var longTrial = SweepCluster.TinyTrials(1, steps: 5, firstSeed: LongSeed);
        await _cluster.Coordinator(longId).Start(new SweepSpec(longId, longTrial, new RankMetric(), MaxRetries: 0));
        return shortTrials;
    }

    [Fact]
    public async Task No_trial_of_a_sweep_waits_behind_a_long_trial_of_another_while_the_other_device_idles()
    {
        const string shortId = "ahead-tail-short", longId = "ahead-tail-long";
        // The slot that takes the long trial holds trials of the short sweep ready behind it, which that sweep's
        // coordinator sees only as held ready (not as behind a trial of its own that runs long).
        var shortTrials = await StartShortThenLong(shortId, 30, TenthSeeds + 1000, longId);
        await _cluster.WaitForEnd(shortId, TimeSpan.FromSeconds(150));
        await _cluster.WaitForEnd(longId, TimeSpan.FromSeconds(150));
        var results = await _cluster.Coordinator(shortId).GetResults();
        Assert.Equal(shortTrials.Count, results.Count(r => r.Result.Status == TrialStatus.Completed));
        var longOne = (await _cluster.Coordinator(longId).GetResults()).Single();
        SweepCluster.AssertNoDeviceSharedAtOnce([.. results, longOne]);
        var after = results.Where(r => r.StartedAt >= longOne.FinishedAt).ToList();
        Assert.True(after.Count == 0,
            $"{after.Count} trials of the short sweep started after the long one ended ({longOne.FinishedAt:HH:mm:ss.fff}), held ready behind it on "
            + $"{longOne.Device} while the other slot idled; the other slot's last trial ended at {results.Where(r => r.Device != longOne.Device).Max(r => r.FinishedAt):HH:mm:ss.fff}");
    }

    [Fact]
    public async Task A_trial_held_ready_behind_another_sweeps_trial_is_shown_queued()
    {
        const string shortId = "ahead-shown-short", longId = "ahead-shown-long";
        await StartShortThenLong(shortId, 60, TenthSeeds + 2000, longId);
        // While the long trial runs, the short sweep's trials its slot holds ready are queued, not running there too.
        var shared = new List<string>();
        var polls = 0;
        while (!(await _cluster.Coordinator(longId).GetSnapshot()).Status.IsEnded())
        {
            var (a, b) = (await _cluster.Coordinator(longId).GetSnapshot(), await _cluster.Coordinator(shortId).GetSnapshot());
            foreach (var both in a.Running.Select(t => (t.Silo, t.Device)).Intersect(b.Running.Select(t => (t.Silo, t.Device))))
                shared.Add($"{both.Device} at {DateTime.UtcNow:HH:mm:ss.fff}");
            polls++;
            await Task.Delay(200);
        }
        await _cluster.WaitForEnd(shortId, TimeSpan.FromSeconds(150));
        Assert.True(polls > 10, $"{polls} polls");
        Assert.True(shared.Count == 0, $"in {shared.Count} of {polls} polls both sweeps showed a trial running on one slot: {string.Join(", ", shared.Take(5))}");
    }
}

/// <summary>Trials held ready across a coordinator's reactivations and a silo's graceful stop: none lost, none run
/// twice, none counted against its retries (max_retries 0).</summary>
[Collection(nameof(SweepClusterTests))]
public sealed class AheadMovesTests : IAsyncLifetime
{
    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Held_trials_survive_coordinator_reactivations_and_a_graceful_stop()
    {
        const string id = "ahead-moves";
        var trials = SweepCluster.TinyTrials(500, steps: 40, firstSeed: 12000);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        var management = _cluster.Grains.GetGrain<IManagementGrain>(0);
        for (var i = 1; i <= 3; i++)
        {
            await _cluster.WaitUntil(id, s => s.Ended >= 40 * i, TimeSpan.FromSeconds(90));
            await management.DeactivateGrain(_cluster.Coordinator(id).GetGrainId());
        }
        var victim = _cluster.Cluster.SecondarySilos[0];
        await _cluster.WaitUntil(id, s => s.Ended >= 160 && s.Running.Any(t => t.Silo == victim.SiloAddress.ToParsableString()), TimeSpan.FromSeconds(90));
        await _cluster.Cluster.StopSiloAsync(victim);
        await management.DeactivateGrain(_cluster.Coordinator(id).GetGrainId());
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(150));
        var ended = await _cluster.Ended(id);
        Assert.True(done.Count(TrialStatus.Completed) == trials.Count,
            string.Join("; ", ended.Where(s => s.Status != TrialStatus.Completed).Take(5).Select(s => $"{s.TrialId[..6]} {s.Status.Name()} attempt {s.Attempt}: {s.Message}")));
        var results = await _cluster.Coordinator(id).GetResults();
        Assert.Equal(trials.Select(TrialIdentity.Of).Order(), results.Select(r => r.TrialId).Order());
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
    }

    [Fact]
    public async Task A_sweep_cancelled_while_slots_hold_trials_ready_ends_with_none_running()
    {
        const string id = "ahead-cancel";
        var trials = SweepCluster.TinyTrials(600, steps: 40, firstSeed: 13000);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        await _cluster.WaitUntil(id, s => s.Ended >= 60, TimeSpan.FromSeconds(90));
        await _cluster.Coordinator(id).Cancel();
        // Activated again at once: rebuilt from trial grains some of which still say running (held ready).
        await _cluster.Grains.GetGrain<IManagementGrain>(0).DeactivateGrain(_cluster.Coordinator(id).GetGrainId());
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(60));
        Assert.Equal(SweepStatus.Cancelled, done.Status);
        Assert.Empty(done.Running);
        Assert.Equal(0, done.Count(TrialStatus.Running) + done.Count(TrialStatus.Queued));
        Assert.Equal(0, done.Count(TrialStatus.Failed));
        var summaries = await Task.WhenAll(trials.Select(t => _cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Of(id, TrialIdentity.Of(t))).GetSummary(new RankMetric())));
        Assert.DoesNotContain(summaries, s => s.Status == TrialStatus.Running);
    }
}

/// <summary>
/// A silo that joins while the one silo at work holds the sweep's remaining trials ready gets work at once: an idle
/// device takes, from the slot holding the most, the trial it would run last (seen in CI: with 5 s held ahead per slot,
/// a silo that joined near a sweep's end ran nothing; it would have waited for twice <see cref="LeaseOptions.Ahead"/>).
/// Slots hold 30 s of work here, so that every trial is held ready before the second silo joins.
/// </summary>
[Collection(nameof(SweepClusterTests))]
public sealed class AheadJoinTests : IAsyncLifetime
{
    static readonly TimeSpan TrialFor = TimeSpan.FromSeconds(0.4);

    /// <summary>The real runner, each trial first showing signs of life for <see cref="TrialFor"/>.</summary>
    sealed class SlowerRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            SweepCluster.ShowLifeFor(TrialFor, heartbeat, cancellation);
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    sealed class HoldingMuch : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.Services.AddSingleton<ITrialRunner>(sp => new SlowerRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
            silo.Services.Configure<LeaseOptions>(o => o.Ahead = TimeSpan.FromSeconds(30));
        }
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<HoldingMuch>(silos: 1);
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task An_idle_device_with_nothing_queued_or_held_ready_elsewhere_is_told_so_without_an_error()
    {
        const string id = "ahead-nothing";
        var trials = SweepCluster.TinyTrials(SweepCluster.SlotsPerSilo, steps: 5, firstSeed: 14500);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        await _cluster.WaitUntil(id, s => s.Running.Count == trials.Count, TimeSpan.FromSeconds(30));
        // Every trial runs on the silo's slots; a device of another silo asks (it threw "Sequence contains no elements").
        var idle = new DeviceSlot("127.0.0.1:1@1", 0, "cpu", "cpu:0");
        Assert.Null(await _cluster.Coordinator(id).Lease(idle));
        Assert.Null(await _cluster.Coordinator(id).Lease(idle, ahead: true));
        await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_silo_that_joins_takes_trials_held_ready_elsewhere_at_once()
    {
        const string id = "ahead-join";
        var trials = SweepCluster.TinyTrials(40, steps: 5, firstSeed: 14000);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        await _cluster.WaitUntil(id, s => s.Ended >= 4, TimeSpan.FromSeconds(60));
        var joined = await _cluster.Cluster.StartAdditionalSiloAsync();
        var joinedAt = DateTimeOffset.UtcNow;
        var atJoin = await _cluster.Coordinator(id).GetSnapshot();
        var left = trials.Count - atJoin.Ended;
        Assert.True(left >= 16, $"only {left} trials were left when the second silo joined");
        await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(90));

        var results = await _cluster.Coordinator(id).GetResults();
        Assert.Equal(trials.Select(TrialIdentity.Of).Order(), results.Select(r => r.TrialId).Order());
        SweepCluster.AssertNoDeviceSharedAtOnce(results);
        var onJoined = results.Where(r => r.Silo == joined.SiloAddress.ToParsableString()).ToList();
        // Both silos' slots share the remaining work; without taking held trials the joined one ran the few left queued.
        Assert.True(onJoined.Count >= left / 5,
            $"the joined silo ran {onJoined.Count} of the {left} trials left when it joined ({atJoin.Count(TrialStatus.Queued)} were queued then)");
        var first = onJoined.Min(r => r.StartedAt) - joinedAt;
        Assert.True(first < TimeSpan.FromSeconds(3), $"the joined silo's first trial started {first.TotalSeconds:0.0} s after it joined");
    }
}
