using System.Globalization;
using Descent.Contracts.Trials;

namespace Descent.Grains.Training;

/// <summary>
/// The memory a trial will hold, from its shapes, checked before anything is allocated. A trial too large for
/// its silo otherwise fails inside libtorch (<c>[enforce fail at alloc_cpu.cpp:127] ... you tried to allocate
/// 80000000000 bytes</c> and native frame addresses), or worse, is granted memory the kernel cannot back and
/// brings the OOM killer onto the whole silo.
/// </summary>
public static class TrialMemory
{
    const long Float = sizeof(float);

    /// <summary>Bytes a trial holds at its peak, by part (all float32 but Newton's float64 Hessian).</summary>
    /// <param name="Task">The task as a user reads it: <c>task synthetic n_row=2000000000, dim_in=10</c>.</param>
    /// <param name="Inputs">The input matrix <c>[n_row, dim_in]</c>.</param>
    /// <param name="Targets">The target column <c>[n_row, 1]</c>.</param>
    /// <param name="Activations">What a forward pass with graph keeps for the backward pass (every layer's output,
    /// <c>[n_row, width]</c>, and the loss's residual), plus the backward pass's two widest gradients.</param>
    /// <param name="Newton">newton: its Hessian, <c>[n, n]</c> float64 for n parameters, and the float64 copies of the
    /// data and activations it differentiates; 0 for the other optimizers.</param>
    public sealed record Footprint(string Task, long Inputs, long Targets, long Activations, long Newton)
    {
        public long Total => Inputs + Targets + Activations + Newton;
    }

    /// <summary>The footprint of <paramref name="spec"/> when its shapes follow from the spec (synthetic, linear);
    /// null for a CSV task, whose rows are known once the file is read (<see cref="Training"/> covers it then).</summary>
    public static Footprint? Of(TrialSpec spec) => spec.Task switch
    {
        SyntheticTaskSpec s => Of($"task synthetic n_row={s.NRow}, dim_in={s.DimIn}, dim_hidden={s.DimHidden}, n_layers={s.NLayers}",
            s.NRow, s.DimIn, [.. Enumerable.Repeat((long)s.DimHidden, s.NLayers + 1), 1], spec.Optimizer),
        LinearTaskSpec l => Of($"task linear n_row={l.NRow}, k={l.Features}", l.NRow, l.Features + 1, [1], spec.Optimizer),
        _ => null,
    };

    /// <summary>What training a loaded task still needs (activations, newton's Hessian): its data is in memory
    /// already, so only the rest is compared with what is left.</summary>
    /// <param name="inputs">The input matrix's shape, <c>[n_row, dim_in]</c>.</param>
    /// <param name="weights">The shapes of the model's parameters; each matrix <c>[out, in]</c> is a layer of width out.</param>
    public static Footprint Training(TrialSpec spec, long[] inputs, IEnumerable<long[]> weights)
    {
        var widths = weights.Where(w => w.Length == 2).Select(w => w[0]).ToList();
        var task = spec.Task is CsvTaskSpec csv ? $"task csv {Path.GetFileName(csv.Path)} ({inputs[0]} rows, {inputs[1]} features)" : Of(spec)!.Task;
        return Of(task, inputs[0], inputs[1], widths, spec.Optimizer) with { Inputs = 0, Targets = 0 };
    }

    /// <summary>The footprint of a model of layer widths <paramref name="widths"/> (the last is the output's, 1) over
    /// <paramref name="rows"/> examples of <paramref name="inputs"/> features.</summary>
    static Footprint Of(string task, long rows, long inputs, IReadOnlyList<long> widths, OptimizerSpec optimizer)
    {
        long parameters = 0, previous = inputs;
        foreach (var width in widths)
        {
            parameters += (previous + 1) * width;
            previous = width;
        }
        var widest = widths.Max(); // inputs take no gradient
        var activations = rows * Float * (widths.Sum() + 1 + 2 * widest);
        var (x, y) = (rows * inputs * Float, rows * Float);
        var newton = optimizer.Kind != OptimizerKind.Newton ? 0
            : 2 * (x + y + activations) + (parameters <= optimizer.MaxParameters ? parameters * parameters * sizeof(double) : 0);
        return new Footprint(task, x, y, activations, newton);
    }

    /// <summary>Throws <see cref="TrialResourceException"/> when <paramref name="footprint"/> exceeds
    /// <paramref name="available"/> bytes (default: <see cref="AvailableBytes"/>).</summary>
    public static void Check(Footprint? footprint, long? available = null)
    {
        if (footprint is null) return;
        var free = available ?? AvailableBytes();
        if (footprint.Total <= free) return;
        var parts = new[]
        {
            ("inputs", footprint.Inputs), ("targets", footprint.Targets),
            ("activations kept for the backward pass", footprint.Activations), ("newton's Hessian and float64 copies", footprint.Newton),
        }.Where(p => p.Item2 > 0).Select(p => $"{p.Item1} {Bytes(p.Item2)}");
        var loaded = footprint.Inputs == 0 ? " more to train" : "";
        throw new TrialResourceException($"{footprint.Task} needs about {Bytes(footprint.Total)}{loaded} ({string.Join(", ", parts)}); "
            + $"this silo has {Bytes(free)} available");
    }

    /// <summary>Memory this process can still use, in bytes: the smaller of the host's available memory
    /// (<c>MemAvailable</c> in /proc/meminfo) and the memory limit .NET sees (physical memory, or a container's limit).</summary>
    public static long AvailableBytes()
    {
        var limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                    && long.TryParse(line["MemAvailable:".Length..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                    return Math.Min(limit, kib * 1024);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // not Linux: the limit alone
        return limit;
    }

    /// <summary>Bytes for people, decimal units, two significant digits below ten: <c>80 GB</c>, <c>1.5 GB</c>, <c>320 MB</c>.</summary>
    public static string Bytes(double bytes)
    {
        var (value, unit) = bytes switch
        {
            >= 1e12 => (bytes / 1e12, "TB"),
            >= 1e9 => (bytes / 1e9, "GB"),
            >= 1e6 => (bytes / 1e6, "MB"),
            _ => (bytes / 1e3, "kB"),
        };
        return $"{value.ToString(value >= 10 ? "F0" : "0.#", CultureInfo.InvariantCulture)} {unit}";
    }
}

/// <summary>The trial needs more of the silo than it has (memory, a device): it fails with this one-line message.</summary>
public sealed class TrialResourceException(string message) : Exception(message);
