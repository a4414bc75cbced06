using System.Diagnostics;

namespace Descent.Tests;

/// <summary>The build's Debian 12 fix (build/TorchSharpNative.targets): on a host whose libstdc++ lacks
/// GLIBCXX_3.4.32, the copy of libLibTorchSharp.so next to these tests must carry that requirement as weak.
/// (That TorchSharp loads at all, in every other test, is the end-to-end proof.)</summary>
public class NativeShimTests
{
    [Fact]
    public void The_output_copy_of_the_shim_no_longer_requires_glibcxx_3_4_32()
    {
        if (!OperatingSystem.IsLinux()) return;
        var host = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        if (host is null || File.ReadAllText(host, System.Text.Encoding.Latin1).Contains("GLIBCXX_3.4.32\0", StringComparison.Ordinal))
            return; // the host provides the version: the build leaves the library alone, nothing to check
        var shim = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(shim), $"{shim} is missing");
        var readelf = Process.Start(new ProcessStartInfo("readelf", ["-V", shim]) { RedirectStandardOutput = true })!;
        var versions = readelf.StandardOutput.ReadToEnd();
        readelf.WaitForExit();
        var line = versions.Split('\n').Single(l => l.Contains("Name: GLIBCXX_3.4.32", StringComparison.Ordinal));
        Assert.Contains("Flags: WEAK", line);
    }
}
