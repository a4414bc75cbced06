using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Devices;
using Descent.Grains.Sweeps;
using Descent.Tests.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using System.Runtime.InteropServices;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace Descent.Tests.Training;

/// <summary>
/// torch.set_num_threads sets OpenMP's thread count for the calling thread only: a trial's new thread started with
/// every core, whatever the silo had set at start, and slots (and silos sharing a machine) ran OpenMP teams of all
/// the cores side by side (three one-slot silos on two cores trained 28 times slower). Each trial thread now sets
/// its slot's share (<see cref="DeviceInventory.SetTorchThreads"/>).
/// </summary>
public class TorchThreadsTests
{
    static int OnNewThread(Func<int> body)
    {
        var result = 0;
        var thread = new Thread(() => result = body());
        thread.Start();
        thread.Join();
        return result;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate int MaxThreads();

    /// <summary>OpenMP's thread count for a parallel region begun on the calling thread: omp_get_max_threads of the
    /// libgomp that libtorch loaded (torch.get_num_threads cannot tell: it sets the thread's count first).</summary>
    internal static int OmpMaxThreads()
    {
        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        var gomp = Assert.Single(Directory.GetFiles(native, "libgomp*.so*"));
        var export = NativeLibrary.GetExport(NativeLibrary.Load(gomp), "omp_get_max_threads");
        return Marshal.GetDelegateForFunctionPointer<MaxThreads>(export)();
    }

    [Fact]
    public void A_trial_thread_trains_with_its_slots_share_of_the_cores_not_every_core()
    {
        Assert.True(Environment.ProcessorCount >= 2, "needs two cores or more to tell a slot's share from every core");
        var inventory = new DeviceInventory(Options.Create(new DeviceOptions { CpuSlots = 1, Cores = 1, UseCuda = false }),
            new RankingAndIdentityTests.LocalSilo(SiloAddress.New(System.Net.IPAddress.Loopback, 11111, 1)),
            NullLogger<DeviceInventory>.Instance);
        Assert.Equal(1, inventory.TorchThreads);
        // The inventory set one thread on this thread; a new thread does not inherit it.
        Assert.Equal(1, OmpMaxThreads());
        Assert.Equal(Environment.ProcessorCount, OnNewThread(OmpMaxThreads));
        Assert.Equal(1, OnNewThread(() =>
        {
            inventory.SetTorchThreads();
            return OmpMaxThreads();
        }));
    }
}

/// <summary>The device worker sets each trial thread's share before the trial trains: in a silo of two slots on this
/// machine's cores, a trial's OpenMP teams have the slot's share.</summary>
[Collection(nameof(SweepClusterTests))]
public sealed class TrialThreadTests : IAsyncLifetime
{
    static readonly System.Collections.Concurrent.ConcurrentBag<int> Seen = [];

    /// <summary>The real runner, noting OpenMP's thread count on the trial's thread.</summary>
    sealed class CountingRunner(TorchTrialRunner real) : ITrialRunner
    {
        public TrialResult Run(TrialLease lease, Action<StepRecord> onStep, Action heartbeat, CancellationToken cancellation, Func<bool> handedBack)
        {
            Seen.Add(TorchThreadsTests.OmpMaxThreads());
            return real.Run(lease, onStep, heartbeat, cancellation, handedBack);
        }
    }

    sealed class Counting : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) =>
            silo.Services.AddSingleton<ITrialRunner>(sp => new CountingRunner(ActivatorUtilities.CreateInstance<TorchTrialRunner>(sp)));
    }

    SweepCluster _cluster = null!;
    public async Task InitializeAsync() => _cluster = await SweepCluster.StartAsync<Counting>(silos: 1);
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Each_trial_trains_with_its_slots_share_of_the_cores()
    {
        const string id = "torch-threads";
        var trials = SweepCluster.TinyTrials(4, steps: 5, firstSeed: 15000);
        await _cluster.Coordinator(id).Start(new SweepSpec(id, trials, new RankMetric()));
        await _cluster.WaitForEnd(id, TimeSpan.FromSeconds(60));
        var share = Math.Max(1, Environment.ProcessorCount / SweepCluster.SlotsPerSilo);
        Assert.Equal(trials.Count, Seen.Count);
        Assert.All(Seen, threads => Assert.Equal(share, threads));
    }
}
