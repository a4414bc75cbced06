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
    const double Float = sizeof(float);

    /// <summary>Bytes a trial holds at its peak, by part (float32 but for newton's float64 work). Doubles, so that absurd
    /// shapes (n_row × dim_in past 2⁶³) still compare and print.</summary>
    /// <param name="Task">The task as a user reads it: <c>task synthetic n_row=2000000000, dim_in=10</c>.</param>
    /// <param name="Inputs">The input matrix <c>[n_row, dim_in]</c>, and the copy a linear task's concatenation makes.</param>
    /// <param name="Targets">The target column <c>[n_row, 1]</c>.</param>
    /// <param name="Model">The parameters, their gradients and the optimizer's state (Adam's two moments, L-BFGS's
    /// history, the K-optimizers' snapshots).</param>
    /// <param name="Activations">What a forward pass with graph keeps for the backward pass (every layer's output,
    /// <c>[n_row, width]</c>, and the loss's residual), plus the backward pass's two widest gradients.</param>
    /// <param name="Newton">newton: its Hessian, <c>[n, n]</c> float64 for n parameters, and the float64 copies of the
    /// data and activations it differentiates twice over; 0 for the other optimizers.</param>
    public sealed record Footprint(string Task, double Inputs, double Targets, double Model, double Activations, double Newton)
    {
        public double Total => Inputs + Targets + Model + Activations + Newton;
    }

    /// <summary>The footprint of <paramref name="spec"/> when its shapes follow from the spec (synthetic, linear);
    /// null for a CSV task, whose rows are known once the file is read (<see cref="Training"/> covers it then).</summary>
    public static Footprint? Of(TrialSpec spec) => spec.Task switch
    {
        SyntheticTaskSpec s => Of($"task synthetic n_row={s.NRow}, dim_in={s.DimIn}, dim_hidden={s.DimHidden}, n_layers={s.NLayers}",
            s.NRow, s.DimIn, [(s.DimHidden, s.NLayers + 1.0), (1, 1)], spec.Optimizer),
        // X = [1, randn(n, k)] is concatenated: the random part and the result are alive at once.
        LinearTaskSpec l => Of($"task linear n_row={l.NRow}, k={l.Features}", l.NRow, l.Features + 1.0, [(1, 1)], spec.Optimizer) is var f
            ? f with { Inputs = 2 * f.Inputs } : null,
        _ => null,
    };

    /// <summary>What training a loaded task still needs: its data and weights are in memory already, so only the
    /// rest (gradients, optimizer state, activations, newton's work) is compared with what is left.</summary>
    /// <param name="inputs">The input matrix's shape, <c>[n_row, dim_in]</c>.</param>
    /// <param name="weights">The shapes of the model's parameters; each matrix <c>[out, in]</c> is a layer of width out.</param>
    public static Footprint Training(TrialSpec spec, long[] inputs, IEnumerable<long[]> weights)
    {
        var widths = weights.Where(w => w.Length == 2).Select(w => ((double)w[0], 1.0)).ToList();
        var task = spec.Task is CsvTaskSpec csv ? $"task csv {Path.GetFileName(csv.Path)} ({inputs[0]} rows, {inputs[1]} features)" : Of(spec)!.Task;
        var footprint = Of(task, inputs[0], inputs[1], widths, spec.Optimizer);
        return footprint with { Inputs = 0, Targets = 0, Model = footprint.Model * (1 - 1 / StateFactor(spec.Optimizer)) };
    }

    /// <summary>The footprint of a model whose layers come in groups of <c>Count</c> layers of width <c>Width</c> (the
    /// last, the output, of width 1) over <paramref name="rows"/> examples of <paramref name="inputs"/> features.</summary>
    static Footprint Of(string task, double rows, double inputs, IReadOnlyList<(double Width, double Count)> layers, OptimizerSpec optimizer)
    {
        double parameters = 0, previous = inputs, outputs = 0, widest = 0;
        foreach (var (width, count) in layers)
        {
            parameters += (previous + 1) * width + (count - 1) * (width + 1) * width;
            outputs += count * width;
            widest = Math.Max(widest, width); // inputs take no gradient
            previous = width;
        }
        var activations = rows * Float * (outputs + 1 + 2 * widest);
        var (x, y) = (rows * inputs * Float, rows * Float);
        var newton = optimizer.Kind != OptimizerKind.Newton ? 0
            : 2 * (x + y) + 4 * activations + (parameters <= optimizer.MaxParameters ? parameters * parameters * sizeof(double) : 0);
        return new Footprint(task, x, y, parameters * Float * StateFactor(optimizer), activations, newton);
    }

    /// <summary>Copies of the parameters a trial holds: weights and gradients, and the optimizer's state.</summary>
    static double StateFactor(OptimizerSpec optimizer) => optimizer.Kind switch
    {
        OptimizerKind.Adam => 4,
        OptimizerKind.Lbfgs => 4 + 2.0 * optimizer.HistorySize,
        OptimizerKind.KeepStepping or OptimizerKind.KeepVaulting => 4,
        OptimizerKind.Newton => 6, // and the float64 copy's weights and gradients
        _ => 2,
    };

    /// <summary>Throws <see cref="TrialResourceException"/> when <paramref name="footprint"/> exceeds
    /// <paramref name="available"/> bytes (default: <see cref="AvailableBytes"/>).</summary>
    public static void Check(Footprint? footprint, double? available = null)
    {
        if (footprint is null) return;
        var free = available ?? AvailableBytes();
        if (footprint.Total <= free) return;
        var parts = new[]
        {
            ("inputs", footprint.Inputs), ("targets", footprint.Targets), ("model and optimizer state", footprint.Model),
            ("activations kept for the backward pass", footprint.Activations), ("newton's Hessian and float64 copies", footprint.Newton),
        }.Where(p => p.Item2 > 0).Select(p => $"{p.Item1} {Bytes(p.Item2)}");
        var loaded = footprint.Inputs == 0 ? " more to train" : "";
        throw new TrialResourceException($"{footprint.Task} needs about {Bytes(footprint.Total)}{loaded} ({string.Join(", ", parts)}); "
            + $"this silo has {Bytes(free)} available");
    }

    /// <summary>Memory a trial can still take, in bytes: the host's available memory (<c>MemAvailable</c> in
    /// /proc/meminfo), or, in a container with a memory limit (cgroup v2), the room left under that limit if smaller.
    /// Elsewhere, the memory .NET sees.</summary>
    public static double AvailableBytes()
    {
        double? host = Number("/proc/meminfo", "MemAvailable:") * 1024;
        double? room = Number("/sys/fs/cgroup/memory.max", "") - Number("/sys/fs/cgroup/memory.current", "");
        return (host, room) switch
        {
            ({ } h, { } r) => Math.Min(h, r),
            ({ } h, null) => h,
            _ => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
        };
    }

    /// <summary>The number after <paramref name="prefix"/> on a line of <paramref name="file"/>; null when the file or
    /// the number is not there (not Linux, no cgroup limit: <c>memory.max</c> says <c>max</c>).</summary>
    static double? Number(string file, string prefix)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
                if (line.StartsWith(prefix, StringComparison.Ordinal)
                    && double.TryParse(line[prefix.Length..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
                    return value;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>Bytes for people, decimal units, two significant digits below ten: <c>80 GB</c>, <c>1.5 GB</c>, <c>320 MB</c>.</summary>
    public static string Bytes(double bytes)
    {
        var (value, unit) = bytes switch
        {
            >= 1e12 => (bytes / 1e12, "TB"),
            >= 1e9 => (bytes / 1e9, "GB"),
            >= 1e6 => (bytes / 1e6, "MB"),
            >= 1e3 => (bytes / 1e3, "kB"),
            _ => (bytes, "B"),
        };
        return $"{value.ToString(value >= 10 ? "F0" : "0.#", CultureInfo.InvariantCulture)} {unit}";
    }
}

/// <summary>The trial needs more of the silo than it has (memory, a device): it fails with this one-line message.</summary>
public sealed class TrialResourceException(string message) : Exception(message);
