using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Descent.Testing;

/// <summary>The real descent-client and descent-silo (or any program), run as processes from the output folder of the
/// test or benchmark using this (it references src/Client and src/Silo, so their builds are there).</summary>
public sealed class RunningProcess : IDisposable
{
    readonly Process _process;
    readonly StringBuilder _out = new(), _err = new();
    readonly Lock _lock = new();

    RunningProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _out.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_lock) _err.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static RunningProcess Start(string assembly, string workingDirectory, params string[] args) =>
        Launch(assembly, workingDirectory, null, args);

    /// <summary>Starts <paramref name="assembly"/> with <paramref name="environment"/> added to a clean environment
    /// (no cluster or telemetry variables of the machine running the tests).</summary>
    public static RunningProcess Launch(string assembly, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Launch([], assembly, workingDirectory, environment, args);

    /// <summary>As <see cref="Launch(string, string, IReadOnlyDictionary{string, string}?, string[])"/>, run through
    /// <paramref name="wrapper"/> (e.g. <c>ip netns exec NAME</c>), which must exec the command in its own place so
    /// that signals reach it.</summary>
    public static RunningProcess Launch(string[] wrapper, string assembly, string workingDirectory, IReadOnlyDictionary<string, string>? environment,
        params string[] args)
    {
        // An assembly of the test's output runs under dotnet; a program (an absolute path) runs as it is.
        string[] command = Path.IsPathRooted(assembly) ? [assembly, .. args] : [Dotnet, Path.Combine(AppContext.BaseDirectory, assembly), .. args];
        if (wrapper.Length > 0) command = [.. wrapper, .. command];
        var info = new ProcessStartInfo(command[0], command[1..]);
        info.WorkingDirectory = workingDirectory;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("DESCENT", StringComparison.Ordinal) || k.StartsWith("OTEL_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            info.Environment[name] = value;
        return new RunningProcess(new Process { StartInfo = info });
    }

    public static RunningProcess Client(string workingDirectory, params string[] args) => Start("descent-client.dll", workingDirectory, args);

    /// <summary>Runs descent-client to its end.</summary>
    public static async Task<(int Exit, string Out, string Err)> RunClient(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        using var process = Client(workingDirectory, args);
        var exit = await process.Exit(timeout);
        return (exit, process.Out, process.Err);
    }

    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public string Out { get { lock (_lock) return _out.ToString(); } }
    public string Err { get { lock (_lock) return _err.ToString(); } }

    /// <summary>Waits for the process to exit and returns its exit code; kills it and throws <see cref="TimeoutException"/>
    /// after <paramref name="timeout"/>. A cancelled <paramref name="cancellation"/> stops the wait (the process runs on).</summary>
    public async Task<int> Exit(TimeSpan timeout, CancellationToken cancellation = default)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        cancel.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"process did not exit within {timeout}; stdout:\n{Out}\nstderr:\n{Err}");
        }
        _process.WaitForExit(); // drains the output
        return _process.ExitCode;
    }

    public async Task WaitFor(Func<string, bool> condition, TimeSpan timeout, bool onStdout = false)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition(onStdout ? Out : Err))
        {
            if (_process.HasExited) throw new InvalidOperationException($"process exited ({_process.ExitCode}) first; stdout:\n{Out}\nstderr:\n{Err}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"condition not met within {timeout}; stdout:\n{Out}\nstderr:\n{Err}");
            await Task.Delay(100);
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Sends <paramref name="signal"/> (2 SIGINT, 15 SIGTERM) to the process, or with <paramref name="group"/>
    /// to its process group (the process must lead one: started under setsid).</summary>
    public void Signal(int signal, bool group = false)
    {
        if (group && getpgid(_process.Id) != _process.Id) throw new InvalidOperationException($"process {_process.Id} leads no process group");
        if (kill(group ? -_process.Id : _process.Id, signal) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern int getpgid(int pid);

    /// <summary>Sends the signal Ctrl-C sends.</summary>
    public void Interrupt()
    {
        using var kill = Process.Start("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -INT {_process.Id} failed ({kill.ExitCode})");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
