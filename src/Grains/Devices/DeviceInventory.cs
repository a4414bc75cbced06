using Descent.Contracts.Sweeps;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using TorchSharp;

namespace Descent.Grains.Devices;

/// <summary>How a silo uses its devices.</summary>
public sealed class DeviceOptions
{
    /// <summary>CPU slots when there is no CUDA device (default: one per two of <see cref="Cores"/>, at least one).</summary>
    public int? CpuSlots { get; set; }

    /// <summary>The cores this silo's CPU slots share (default: every core the process may use, a container's CPU limit
    /// included). Set it when several silos share one machine: each one otherwise gives its slots every core, and
    /// torch's OpenMP threads of all of them spin for the same cores (three one-slot silos on two cores ran 24 short trials
    /// in 32 s, against 4.9 s with one core each).</summary>
    public int? Cores { get; set; }

    /// <summary>Trials that may share one device at once (default 1: a device belongs to one trial).</summary>
    public int TrialsPerDevice { get; set; } = 1;

    /// <summary>Use CUDA devices when TorchSharp finds any (the CUDA build on a GPU node).</summary>
    public bool UseCuda { get; set; } = true;

    /// <summary>The number of GPUs this silo must offer (a pod's <c>nvidia.com/gpu</c> limit); unset: whatever CUDA
    /// devices it finds. A silo that sees another number of CUDA devices refuses to start
    /// (<see cref="DevicePlan.Create"/>), so a cluster never advertises devices it was not given.</summary>
    public int? Gpus { get; set; }
}

/// <summary>
/// This silo's device slots, discovered at start, and which trial holds each: the device worker holds a slot for a
/// lease from the moment the trial's thread starts until it returns (also past an expired lease: a hung trainer
/// keeps its device until its thread ends).
/// </summary>
public sealed class DeviceInventory : IDisposable
{
    // One gauge for every inventory of this process (a test cluster runs several silos in one process).
    static readonly System.Collections.Concurrent.ConcurrentDictionary<DeviceInventory, string> Live = new();
    static readonly System.Diagnostics.Metrics.ObservableGauge<int> Busy = Descent.Contracts.DescentTelemetry.Meter.CreateObservableGauge(
        "descent.devices.busy",
        () => Live.Select(i => new System.Diagnostics.Metrics.Measurement<int>(i.Key.Slots.Count - i.Key.Free, new KeyValuePair<string, object?>("descent.silo", i.Value))),
        "{device}", "Device slots holding a trial");

    readonly Lock _lock = new();
    readonly string?[] _holders;

    /// <summary>Discovers this silo's devices (<see cref="DevicePlan.Create"/>: CUDA devices when libtorch sees any,
    /// else CPU slots) and sets torch's thread count for CPU slots. Throws <see cref="DeviceSettingsException"/> when
    /// the settings cannot be met (<see cref="DeviceOptions.Gpus"/> differs from the CUDA devices seen).</summary>
    public DeviceInventory(IOptions<DeviceOptions> options, ILocalSiloDetails silo, ILogger<DeviceInventory> log)
    {
        var o = options.Value;
        var address = silo.SiloAddress.ToParsableString();
        var cudaCount = o.UseCuda && torch.cuda.is_available() ? torch.cuda.device_count() : 0;
        var plan = DevicePlan.Create(o, cudaCount, Environment.ProcessorCount, Environment.GetEnvironmentVariable);
        var devices = plan.Devices;
        // Each CPU slot's share of the cores: set here for this thread, and by each trial's thread for its own.
        TorchThreads = plan.TorchThreads;
        SetTorchThreads();
        Slots = [.. devices.SelectMany(d => Enumerable.Range(0, o.TrialsPerDevice).Select(_ => d))
            .Select((d, i) => new DeviceSlot(address, i, d.Device, o.TrialsPerDevice == 1 ? d.Name : $"{d.Name}#{i % o.TrialsPerDevice}"))];
        _holders = new string?[Slots.Count];
        Live[this] = address;
        log.LogInformation("Silo {Silo} offers {Count} device slot(s): {Slots}", address, Slots.Count, string.Join(", ", Slots.Select(s => s.Name)));
        if (cudaCount > 0 && DevicePlan.VisibleGpus(Environment.GetEnvironmentVariable) is { } visible && visible != cudaCount)
            log.LogWarning("CUDA sees {Count} device(s), but {Nvidia} and {Cuda} expose {Visible}", cudaCount,
                DevicePlan.NvidiaVisibleDevices, DevicePlan.CudaVisibleDevices, visible);
    }

    public IReadOnlyList<DeviceSlot> Slots { get; }

    /// <summary>Each CPU slot's share of the cores (<see cref="DevicePlan.TorchThreads"/>); null on CUDA.</summary>
    public int? TorchThreads { get; }

    /// <summary>Gives the calling thread's torch operations <see cref="TorchThreads"/> intra-op threads. Called on each
    /// trial's thread before it trains: torch.set_num_threads sets OpenMP's thread count for the calling thread only
    /// (omp_set_num_threads), and a new thread starts with OpenMP's default, every core. Without it every slot ran
    /// OpenMP teams of all the cores: three one-slot silos on two cores took 4.8 s a trial against 0.28 s with it (0.17 s
    /// for one silo alone), their spinning threads contending for the cores.</summary>
    public void SetTorchThreads()
    {
        if (TorchThreads is { } threads) torch.set_num_threads(threads);
    }

    public int Free
    {
        get { lock (_lock) return _holders.Count(h => h is null); }
    }

    /// <summary>Marks <paramref name="slot"/> as held by <paramref name="trialKey"/>; throws
    /// <see cref="InvalidOperationException"/> if another trial holds it (no device ever serves two leases).</summary>
    public void Hold(DeviceSlot slot, string trialKey)
    {
        lock (_lock)
        {
            if (!IsLocal(slot)) throw new InvalidOperationException($"slot {slot.Name} of silo {slot.Silo} is not a slot of this silo");
            if (_holders[slot.Index] is { } holder)
                throw new InvalidOperationException($"slot {slot.Name} is held by trial {holder}; it cannot also take {trialKey}");
            _holders[slot.Index] = trialKey;
        }
    }

    public void Release(DeviceSlot slot, string trialKey)
    {
        lock (_lock)
        {
            if (IsLocal(slot) && _holders[slot.Index] == trialKey) _holders[slot.Index] = null;
        }
    }

    public void Dispose() => Live.TryRemove(this, out _);

    bool IsLocal(DeviceSlot slot) => slot.Index < Slots.Count && Slots[slot.Index].Silo == slot.Silo;
}
