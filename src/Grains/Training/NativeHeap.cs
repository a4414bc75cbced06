using System.Runtime.InteropServices;

namespace Descent.Grains.Training;

/// <summary>
/// Hands the C heap's free memory back to the operating system between trials.
/// <para>libtorch allocates activations and gradients with malloc. glibc raises its mmap threshold each time a
/// large mmapped block is freed, after which blocks of that size come from the heap, which it rarely trims: on
/// the post's network resident memory grew by about 450 MiB per 100-step trial and never came back, although
/// every tensor was disposed. Trimming once per trial keeps a long-lived process at its baseline and costs
/// nothing inside the training loop (a fixed mmap threshold would, in page faults on every forward pass).</para>
/// </summary>
public static class NativeHeap
{
    static bool _unavailable = !OperatingSystem.IsLinux();

    public static void ReturnFreeMemory()
    {
        if (_unavailable) return;
        try
        {
            _ = malloc_trim(0);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _unavailable = true; // not glibc (musl, say): nothing to trim
        }
    }

    [DllImport("libc")]
    static extern int malloc_trim(nuint pad);
}
