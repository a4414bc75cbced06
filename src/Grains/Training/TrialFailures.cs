using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Descent.Grains.Training;

/// <summary>
/// Why a trial failed, in one line its user understands. libtorch's errors arrive as
/// <see cref="ExternalException"/>s whose text is C++ diagnostics (<c>[enforce fail at alloc_cpu.cpp:127] ...</c>,
/// <c>Exception raised from ...</c>, <c>frame #0: 0x7f...</c>); out-of-memory errors become what was being
/// allocated against what the silo has, others their first meaningful line. With <c>DESCENT_DEBUG=1</c> (in the
/// silo's environment) the native text follows on the next lines.
/// </summary>
public static partial class TrialFailures
{
    public const string DebugVariable = "DESCENT_DEBUG";

    /// <param name="during">What the trial was doing: <c>building the task</c>, <c>the backward pass of step 3</c>.</param>
    /// <param name="debug">Append libtorch's own text (default: <c>DESCENT_DEBUG=1</c> in this process's environment).</param>
    public static string Describe(Exception e, string during, bool? debug = null)
    {
        var native = e is ExternalException ? e.Message : null;
        var message = e switch
        {
            OutOfMemoryException => $"out of memory during {during}; this silo has {TrialMemory.Bytes(TrialMemory.AvailableBytes())} available",
            ExternalException => Native(e.Message, during),
            _ => e.Message,
        };
        if (native is not null && (debug ?? Environment.GetEnvironmentVariable(DebugVariable) is "1"))
            message += $"\nlibtorch said:\n{native.TrimEnd()}";
        return message;
    }

    static string Native(string text, string during)
    {
        if (CpuAllocation().Match(text) is { Success: true } cpu)
            return $"out of memory during {during}: it needed {TrialMemory.Bytes(double.Parse(cpu.Groups[1].Value, CultureInfo.InvariantCulture))} at once; "
                + $"this silo has {TrialMemory.Bytes(TrialMemory.AvailableBytes())} available";
        if (CudaAllocation().Match(text) is { Success: true } cuda)
            return $"out of GPU memory during {during}: it needed {cuda.Groups[1].Value} more on a device that was full";
        var line = text.Split('\n').Select(l => EnforcePrefix().Replace(l, "").Trim())
            .FirstOrDefault(l => l.Length > 0 && !l.StartsWith("Exception raised from", StringComparison.Ordinal) && !l.StartsWith("frame #", StringComparison.Ordinal));
        return $"libtorch failed during {during}: {line ?? "no message"}";
    }

    [GeneratedRegex(@"allocate (\d+) bytes")]
    private static partial Regex CpuAllocation();

    [GeneratedRegex(@"CUDA out of memory\. Tried to allocate ([\d.]+ [KMGT]i?B)")]
    private static partial Regex CudaAllocation();

    [GeneratedRegex(@"^\[enforce fail at [^\]]*\]\s*")]
    private static partial Regex EnforcePrefix();
}
