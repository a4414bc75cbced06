using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Descent.Tests.Sweeps;

/// <summary>An in-process Orleans cluster of three silos with two CPU slots each, fast failure detection, leases of
/// <see cref="LeaseTimeout"/>, and storage that survives a killed silo.</summary>
public sealed class SweepCluster : IAsyncDisposable
{
    public const int SlotsPerSilo = 2;
    public static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(5);

    SweepCluster(TestCluster cluster) => Cluster = cluster;

    public TestCluster Cluster { get; }
    public IGrainFactory Grains => Cluster.GrainFactory;

    /// <typeparam name="TSiloConfigurator">More silo configuration (a test's own trial runner, ...).</typeparam>
    public static async Task<SweepCluster> StartAsync<TSiloConfigurator>(short silos = 3) where TSiloConfigurator : ISiloConfigurator, new()
    {
        var builder = new TestClusterBuilder(silos);
        builder.AddSiloBuilderConfigurator<SiloConfiguration>();
        builder.AddSiloBuilderConfigurator<TSiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfiguration>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new SweepCluster(cluster);
    }

    public static async Task<SweepCluster> StartAsync(short silos = 3)
    {
        var builder = new TestClusterBuilder(silos);
        builder.AddSiloBuilderConfigurator<SiloConfiguration>();
        builder.AddClientBuilderConfigurator<ClientConfiguration>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new SweepCluster(cluster);
    }

    sealed class SiloConfiguration : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.AddDescent(o => o.CpuSlots = SlotsPerSilo, leases: o => (o.Timeout, o.RenewEvery) = (LeaseTimeout, TimeSpan.FromSeconds(0.5)));
            silo.UseInMemoryReminderService();
            // One machine, the test's own files: any path (the data-root check has tests of its own).
            silo.Services.Configure<DataRootOptions>(o => o.Root = "/");
            silo.Services.AddLogging(FileLog.AddTo);
            // Process storage is shared by the in-process silos, so state outlives a killed silo as it would in Redis.
            silo.Services.AddGrainStorage(SweepStorage.Name, (sp, _) => new Descent.Silo.ProcessGrainStorage(sp.GetRequiredService<Orleans.Storage.IGrainStorageSerializer>()));
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(5);
            });
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(15));
        }
    }

    sealed class ClientConfiguration : IClientBuilderConfigurator
    {
        public void Configure(Microsoft.Extensions.Configuration.IConfiguration configuration, IClientBuilder client) =>
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(15));
    }

    public ISweepCoordinatorGrain Coordinator(string sweepId) => Grains.GetGrain<ISweepCoordinatorGrain>(sweepId);

    /// <summary>The summaries of every ended trial of the sweep, in the order they ended.</summary>
    public async Task<IReadOnlyList<TrialSummary>> Ended(string sweepId) => (await Coordinator(sweepId).GetEnded(0, int.MaxValue)).Trials;

    /// <summary>Polls the sweep until it has ended (or the time is up).</summary>
    public async Task<SweepSnapshot> WaitForEnd(string sweepId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        SweepSnapshot? snapshot = null;
        while (true)
        {
            try
            {
                snapshot = await Coordinator(sweepId).GetSnapshot();
                if (snapshot.Status.IsEnded() && snapshot.Ended == snapshot.TrialCount)
                    return snapshot;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                // The coordinator's silo may have just died; the next call activates it elsewhere.
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"sweep {sweepId} still {snapshot?.Status} after {timeout}: {snapshot?.Ended}/{snapshot?.TrialCount} ended, "
                    + $"{snapshot?.Count(TrialStatus.Queued)} queued; running: " + string.Join(", ", snapshot?.Running.GroupBy(t => t.Silo).Select(g => $"{g.Count()}@{g.Key}") ?? []));
            await Task.Delay(200);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>A trainer's signs of life (<paramref name="heartbeat"/> every 20 ms) for <paramref name="length"/>, or
    /// until cancelled: a test runner's trial that takes longer without computing more.</summary>
    public static void ShowLifeFor(TimeSpan length, Action heartbeat, CancellationToken cancellation)
    {
        for (var until = DateTime.UtcNow + length; DateTime.UtcNow < until && !cancellation.IsCancellationRequested;)
        {
            heartbeat();
            Thread.Sleep(20);
        }
    }

    /// <summary>Tiny trials that differ by seed: synthetic 256 x 4, sgd.</summary>
    public static IReadOnlyList<TrialSpec> TinyTrials(int count, int steps = 20, long firstSeed = 0) =>
        [.. Enumerable.Range(0, count).Select(i => new TrialSpec(new SyntheticTaskSpec(256, 4, 4, 1),
            new OptimizerSpec(OptimizerKind.Sgd, 0.01), new Budget(steps), firstSeed + i))];

    /// <summary>Polls until <paramref name="ready"/> holds for the sweep's snapshot.</summary>
    public async Task<SweepSnapshot> WaitUntil(string sweepId, Func<SweepSnapshot, bool> ready, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var snapshot = await Coordinator(sweepId).GetSnapshot();
            if (ready(snapshot)) return snapshot;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"sweep {sweepId}: condition not met after {timeout}");
            await Task.Delay(100);
        }
    }

    /// <summary>Asserts that no two records held the same device of the same silo at the same time.</summary>
    public static void AssertNoDeviceSharedAtOnce(IEnumerable<TrialRecord> records)
    {
        foreach (var device in records.GroupBy(r => (r.Silo, r.Device)))
        {
            var ordered = device.OrderBy(r => r.StartedAt).ToList();
            for (var i = 1; i < ordered.Count; i++)
                Assert.True(ordered[i].StartedAt >= ordered[i - 1].FinishedAt,
                    $"{device.Key}: trial {ordered[i].TrialId} started at {ordered[i].StartedAt:O} before {ordered[i - 1].TrialId} finished at {ordered[i - 1].FinishedAt:O}");
        }
    }
}

/// <summary>One three-silo cluster shared by the tests of a collection that do not kill silos (Orleans' own fixture
/// pattern): each test uses its own sweep ids.</summary>
public sealed class SharedSweepCluster : IAsyncLifetime
{
    public SweepCluster Cluster { get; private set; } = null!;
    public async Task InitializeAsync() => Cluster = await SweepCluster.StartAsync();
    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>The tests' process storage with a fault of the test's choosing before each write: a write that stalls or
/// throws as a store timing out would (a throw writes nothing). State survives a killed silo as in Redis.</summary>
/// <param name="beforeWrite">Called with the grain and the state about to be written; its delay or exception is the write's.</param>
public sealed class FaultyProcessStorage(IGrainStorageSerializer serializer, Func<GrainId, object?, Task> beforeWrite) : IGrainStorage
{
    readonly Descent.Silo.ProcessGrainStorage _inner = new(serializer);

    /// <summary>Makes it the sweep storage of <paramref name="silo"/>.</summary>
    public static void Use(ISiloBuilder silo, Func<GrainId, object?, Task> beforeWrite) =>
        silo.Services.AddGrainStorage(SweepStorage.Name, (sp, _) => new FaultyProcessStorage(sp.GetRequiredService<IGrainStorageSerializer>(), beforeWrite));

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => _inner.ReadStateAsync(stateName, grainId, grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => _inner.ClearStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await beforeWrite(grainId, grainState.State);
        await _inner.WriteStateAsync(stateName, grainId, grainState);
    }
}
