namespace Descent.Grains.Devices;

/// <summary>
/// Which devices a silo offers, decided from its settings, the CUDA devices libtorch sees and the number of cores:
/// a pure function, so that what a GPU pod offers is tested on machines without a GPU.
/// </summary>
/// <param name="Devices">Each device once: its torch device (<c>cuda:N</c> or <c>cpu</c>) and its slot name
/// (<c>cuda:N</c>, <c>cpu:N</c>); a device offers <see cref="DeviceOptions.TrialsPerDevice"/> slots.</param>
/// <param name="TorchThreads">torch's process-wide intra-op threads: the cores divided among the CPU slots (null on
/// CUDA: left as libtorch sets it).</param>
public sealed record DevicePlan(IReadOnlyList<(string Device, string Name)> Devices, int? TorchThreads)
{
    /// <summary>The variable the NVIDIA container runtime reads: the GPUs a container is given (the Kubernetes device
    /// plugin sets it to the pod's <c>nvidia.com/gpu</c> allocation: indices or UUIDs, <c>all</c>, <c>none</c>,
    /// <c>void</c>). Source: NVIDIA container toolkit, "Specialized configurations", environment variables.</summary>
    public const string NvidiaVisibleDevices = "NVIDIA_VISIBLE_DEVICES";

    /// <summary>The CUDA runtime's own filter: a comma-separated list of the devices this process may use, in the
    /// order CUDA numbers them; empty or <c>-1</c> hides every device. Source: CUDA C Programming Guide, "CUDA
    /// Environment Variables".</summary>
    public const string CudaVisibleDevices = "CUDA_VISIBLE_DEVICES";

    /// <summary>The devices to offer. <paramref name="cudaDevices"/>: CUDA devices libtorch sees
    /// (<c>torch.cuda.device_count()</c>, which already applies both variables); <paramref name="processorCount"/>:
    /// cores this process may use (a container's CPU limit included), of which the slots share
    /// <see cref="DeviceOptions.Cores"/> when it is set; <paramref name="environment"/> reads a variable
    /// (only for the message). With <see cref="DeviceOptions.Gpus"/> set, the CUDA devices seen must be exactly that
    /// many. Throws <see cref="DeviceSettingsException"/> naming the setting, its value and what this process
    /// sees when they differ, or when <see cref="DeviceOptions.CpuSlots"/> or <see cref="DeviceOptions.TrialsPerDevice"/>
    /// is below 1.</summary>
    public static DevicePlan Create(DeviceOptions options, int cudaDevices, int processorCount, Func<string, string?> environment)
    {
        if (options.TrialsPerDevice < 1) throw new DeviceSettingsException($"Descent:Devices:TrialsPerDevice = {options.TrialsPerDevice}: must be at least 1");
        if (options.CpuSlots is < 1) throw new DeviceSettingsException($"Descent:Devices:CpuSlots = {options.CpuSlots}: must be at least 1");
        if (options.Gpus is < 0) throw new DeviceSettingsException($"Descent:Devices:Gpus = {options.Gpus}: must be 0 or more");
        if (options.Cores is < 1) throw new DeviceSettingsException($"Descent:Devices:Cores = {options.Cores}: must be at least 1");
        var usable = options.UseCuda ? cudaDevices : 0;
        if (options.Gpus is { } expected && expected != usable)
            throw new DeviceSettingsException($"Descent:Devices:Gpus = {expected}: this silo {Sees(options, cudaDevices, environment)}; "
                + "the silo must offer exactly the GPUs its pod was given (its nvidia.com/gpu limit)");
        if (usable > 0) return new([.. Enumerable.Range(0, usable).Select(d => ($"cuda:{d}", $"cuda:{d}"))], null);
        var cores = options.Cores ?? processorCount;
        var slots = options.CpuSlots ?? Math.Max(1, cores / 2);
        return new([.. Enumerable.Range(0, slots).Select(s => ("cpu", $"cpu:{s}"))], Math.Max(1, cores / slots));
    }

    /// <summary>How many GPUs the container runtime and CUDA were told to expose, from
    /// <see cref="NvidiaVisibleDevices"/> and <see cref="CudaVisibleDevices"/> (the latter filters the former), or
    /// null when neither restricts them (unset, or <c>all</c>).</summary>
    public static int? VisibleGpus(Func<string, string?> environment)
    {
        var cuda = environment(CudaVisibleDevices);
        if (cuda is not null)
        {
            // CUDA stops at the first entry that is not a device: "-1" hides all, "0,-1,1" shows only 0.
            var count = 0;
            foreach (var entry in cuda.Split(',', StringSplitOptions.TrimEntries))
            {
                if (entry.Length == 0 || entry.StartsWith('-')) break;
                count++;
            }
            return count;
        }
        return environment(NvidiaVisibleDevices)?.Trim() switch
        {
            null or "all" => null,
            "" or "none" or "void" => 0,
            var list => list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Length,
        };
    }

    static string Sees(DeviceOptions options, int cudaDevices, Func<string, string?> environment)
    {
        var variables = string.Join(", ", new[] { NvidiaVisibleDevices, CudaVisibleDevices }
            .Select(v => environment(v) is { } value ? $"{v}=\"{value}\"" : $"{v} unset"));
        if (!options.UseCuda) return $"does not use CUDA (Descent:Devices:UseCuda = false; {variables})";
        return cudaDevices switch
        {
            0 => $"sees no CUDA device ({variables}; the CPU build, or a pod without GPUs, sees none: use the CUDA image)",
            1 => $"sees 1 CUDA device ({variables})",
            _ => $"sees {cudaDevices} CUDA devices ({variables})",
        };
    }
}

/// <summary>A device setting the silo cannot start with; the message names the setting, its value and why.</summary>
public sealed class DeviceSettingsException(string message) : Exception(message);
