using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>When a trainer is alive (<see cref="TrainerLiveness"/>): it beat, its thread computed, or its thread waits
/// for a core; only a thread blocked without CPU for a lease timeout is hung.</summary>
public sealed class TrainerLivenessTests
{
    static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);
    static ThreadSample Sleeping(double cpu) => new(S(cpu), Runnable: false);
    static ThreadSample Computing(double cpu) => new(S(cpu), Runnable: true);

    [Fact]
    public void Beats_alone_decide_where_the_thread_cannot_be_sampled()
    {
        var live = new TrainerLiveness(S(0));
        Assert.Equal(S(10), live.Observe(S(10), S(0), null));
        Assert.Equal(S(2), live.Observe(S(12), S(10), null));
    }

    [Fact]
    public void A_thread_that_computes_inside_one_phase_is_alive_without_beats()
    {
        // One 40 s eigendecomposition: no beat after the phase began at 1 s, the thread asleep between samples (an
        // OpenMP barrier) but using most of each second.
        var live = new TrainerLiveness(S(0));
        for (var t = 1; t <= 40; t++)
            Assert.True(live.Observe(S(t), S(1), Sleeping(0.8 * t)) <= S(1), $"silent at {t} s");
    }

    [Fact]
    public void A_runnable_thread_is_alive_even_when_starved_of_cores()
    {
        var live = new TrainerLiveness(S(0));
        for (var t = 1; t <= 60; t++)
            Assert.Equal(TimeSpan.Zero, live.Observe(S(t), S(0), Computing(0.001)));
    }

    [Fact]
    public void A_blocked_thread_using_no_cpu_is_silent_from_its_last_sign_of_life()
    {
        var live = new TrainerLiveness(S(0));
        live.Observe(S(1), S(1), Computing(0.5));
        Assert.Equal(S(29), live.Observe(S(30), S(1), Sleeping(0.5)));
        Assert.Equal(S(30), live.Observe(S(31), S(1), Sleeping(0.5)));
    }

    [Fact]
    public void A_thread_waking_now_and_then_from_a_wait_is_not_computing()
    {
        // A poll every 10 ms costs about 0.1% of a core: under TrainerLiveness.MinCpuShare.
        var live = new TrainerLiveness(S(0));
        for (var t = 1; t <= 31; t++) live.Observe(S(t), S(0), Sleeping(0.001 * t));
        Assert.Equal(S(31), live.Observe(S(31), S(0), Sleeping(0.031)));
    }

    [Fact]
    public void The_first_sample_is_a_baseline_not_a_sign_of_life()
    {
        // A thread blocked since long before the first look has used CPU once; that is no evidence of computing now.
        var live = new TrainerLiveness(S(0));
        Assert.Equal(S(5), live.Observe(S(5), S(0), Sleeping(3)));
        Assert.Equal(S(6), live.Observe(S(6), S(0), Sleeping(3)));
    }

    [Fact]
    public void A_stat_line_is_parsed_from_after_the_command_names_last_parenthesis()
    {
        // proc(5): pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime ...
        var line = "4242 (trial a) (b)) R 1 1 1 0 -1 4194304 10 0 0 0 250 50 0 0 20 0 30 0 100 0 0";
        Assert.Equal(new ThreadSample(S(3), true), ThreadSampler.Parse(line, 100));
        Assert.Equal(new ThreadSample(S(3), false), ThreadSampler.Parse(line.Replace(") R ", ") S "), 100));
        Assert.Null(ThreadSampler.Parse("garbage", 100));
    }

    [Fact]
    public void A_real_thread_reads_as_computing_while_it_spins_and_as_blocked_while_it_waits()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var spin = new ManualResetEventSlim();
        using var block = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        var tid = 0;
        var thread = new Thread(() =>
        {
            tid = ThreadSampler.CurrentThreadId() ?? -1;
            spin.Set();
            // Until it has used 100 ms of CPU, however loaded the machine is.
            while (ThreadSampler.Read(tid) is not { } own || own.Cpu < TimeSpan.FromMilliseconds(100)) { }
            block.Set();
            done.Wait();
        }) { IsBackground = true };
        thread.Start();
        spin.Wait();
        Assert.True(tid > 0);
        var first = ThreadSampler.Read(tid);
        block.Wait();
        Thread.Sleep(100);
        var blocked = ThreadSampler.Read(tid);
        done.Set();
        thread.Join();
        Assert.NotNull(first);
        Assert.NotNull(blocked);
        Assert.False(blocked.Value.Runnable);
        Assert.True(blocked.Value.Cpu >= TimeSpan.FromMilliseconds(100), $"the spinning thread used {blocked.Value.Cpu.TotalMilliseconds} ms of CPU");
        // Join returns when the managed thread is done; the operating system's thread ends a moment later.
        var gone = DateTime.UtcNow.AddSeconds(10);
        while (ThreadSampler.Read(tid) is not null && DateTime.UtcNow < gone) Thread.Sleep(10);
        Assert.Null(ThreadSampler.Read(tid));
    }

    [Theory]
    [InlineData(1.0, 0)]
    [InlineData(2.0, 0)]
    [InlineData(2.5, 1.5)]
    [InlineData(31, 30)]
    public void A_lease_check_that_ran_late_gives_leases_the_time_it_was_away(double since, double grace) =>
        Assert.Equal(TimeSpan.FromSeconds(grace), LeaseOptions.Grace(TimeSpan.FromSeconds(since), TimeSpan.FromSeconds(1)));
}

/// <summary>A trainer that computes for three lease timeouts inside one phase (no beat: one long native operation, such
/// as newton's eigendecomposition of a large Hessian) keeps its lease: its trial completes at its first attempt.</summary>
[Collection(nameof(SweepClusterTests))]
public sealed class ComputingTrainerTests : IAsyncLifetime
{
    const long BusySeed = 7100;

    sealed class BusyPhaseRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            if (lease.Spec.Seed == BusySeed)
            {
                heartbeat();
                var until = DateTime.UtcNow + 3 * SweepCluster.LeaseTimeout;
                var x = 0.0;
                while (DateTime.UtcNow < until) x += Math.Sqrt(x + 1); // computes, never beats
                GC.KeepAlive(x);
            }
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    sealed class WithBusyPhaseRunner : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => silo.Services.AddSingleton<ITrialRunner>(sp =>
            new BusyPhaseRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<WithBusyPhaseRunner>(silos: 1);
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_trainer_computing_for_three_lease_timeouts_in_one_phase_keeps_its_lease()
    {
        const string id = "busy-phase";
        var trials = SweepCluster.TinyTrials(2, steps: 20, firstSeed: BusySeed);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric()));
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(90));
        var results = await _cluster.Coordinator(id).GetResults();
        var ended = await _cluster.Ended(id);
        Assert.True(done.Status == SweepStatus.Done && done.Count(TrialStatus.Completed) == 2 && results.Count == 2,
            $"sweep {done.Status.Name()}: " + string.Join("; ", ended.Select(s => $"{s.TrialId[..6]} {s.Status.Name()} attempt {s.Attempt} {s.Message}")));
        Assert.All(results, r => Assert.True(r.Result.Status == TrialStatus.Completed && r.Attempts == 1,
            $"{r.TrialId[..6]} {r.Result.Status.Name()} after {r.Attempts} attempt(s): {r.Result.Message}"));
    }
}

/// <summary>A trial waiting its turn for the process-wide seeded generator (another trial loads a large CSV under it)
/// shows life while it waits: its thread is blocked and uses no CPU, and would otherwise be taken for hung.</summary>
public sealed class SeedLockWaitTests
{
    [Fact]
    public void A_trial_waiting_for_the_seed_lock_beats_while_another_holds_it()
    {
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() => Descent.Grains.Training.Tasks.Problem.UnderSeedLock(() =>
        {
            held.Set();
            release.Wait();
            return 0;
        })) { IsBackground = true };
        holder.Start();
        held.Wait();
        var beats = 0;
        var waiter = new Thread(() =>
        {
            using var scope = Descent.Grains.Training.TrialHeartbeat.Use(() => Interlocked.Increment(ref beats));
            Descent.Grains.Training.Tasks.Problem.UnderSeedLock(() => 0);
        }) { IsBackground = true };
        waiter.Start();
        // Until it has beaten twice while waiting (every half second), however loaded the machine is.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref beats) < 2 && DateTime.UtcNow < deadline) Thread.Sleep(50);
        release.Set();
        Assert.True(waiter.Join(TimeSpan.FromSeconds(30)));
        holder.Join();
        Assert.True(beats >= 2, $"{beats} beats while waiting");
    }
}
