using System.Collections.Concurrent;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>
/// A begin whose reply is lost (a response timeout, the trial grain's silo dying after its write) is Unclaimed: the
/// coordinator queues the trial again, last, but the trial grain says the attempt runs on that slot, which nobody runs.
/// A coordinator activated again before the trial's next lease (its silo lost, scaled in) reads it as running: nobody
/// renews it, and its lease must not be counted lost (with max_retries 0 the trial would fail though nothing hung).
/// </summary>
[Collection(nameof(SweepClusterTests))]
public sealed class UnclaimedTests : IAsyncLifetime
{
    static readonly ConcurrentDictionary<GrainId, bool> Hit = new();
    static volatile bool _armed;
    static readonly ManualResetEventSlim Gate = new(false);

    /// <summary>The real runner, held at the gate (showing signs of life) until the test opens it.</summary>
    sealed class GatedRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            while (!Gate.Wait(100) && !cancellation.IsCancellationRequested) heartbeat();
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    sealed class WithLostBeginReplies : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.Services.AddSingleton<ITrialRunner>(sp => new GatedRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
            // The first begin of each trial grain is done (written), then its reply is lost.
            silo.AddIncomingGrainCallFilter(async context =>
            {
                await context.Invoke();
                if (_armed && context.MethodName == nameof(ITrialGrain.Begin) && context.Result is null && Hit.TryAdd(context.TargetId, true))
                    throw new TimeoutException("test: the reply of a begin that was done was lost");
            });
        }
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync()
    {
        Gate.Reset();
        _cluster = await SweepCluster.StartAsync<WithLostBeginReplies>(silos: 1);
    }

    public async Task DisposeAsync()
    {
        _armed = false;
        Gate.Set();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_begin_whose_reply_was_lost_counts_no_lost_lease_across_a_coordinator_reactivation()
    {
        const string id = "lost-begin-reply";
        Hit.Clear();
        _armed = true;
        var trials = SweepCluster.TinyTrials(4, steps: 5, firstSeed: 9600);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric(), MaxRetries: 0));
        // Every trial's first begin was done but reported failed: two run their second attempt (held at the gate), two
        // wait in the queue while their grains still say attempt 1 runs.
        await _cluster.WaitUntil(id, s => s.Running.Count == 2 && s.Running.All(r => r.Attempt == 2) && s.Count(TrialStatus.Queued) == 2,
            TimeSpan.FromSeconds(30));
        var management = _cluster.Grains.GetGrain<IManagementGrain>(0);
        await management.DeactivateGrain(_cluster.Coordinator(id).GetGrainId());
        await _cluster.Coordinator(id).GetSnapshot(); // rebuilt from the trial grains
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Gate.Set();
        var done = await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(60));
        var ended = await _cluster.Ended(id);
        Assert.True(done.Count(TrialStatus.Completed) == 4,
            string.Join("; ", ended.Select(s => $"{s.TrialId[..6]} {s.Status.Name()} attempt {s.Attempt} {s.Message}")));
        Assert.True(sw.Elapsed < SweepCluster.LeaseTimeout, $"took {sw.Elapsed.TotalSeconds:0.0} s: a trial waited for a lease nobody held to expire");
    }
}
