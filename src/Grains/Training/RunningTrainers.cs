using System.Runtime.InteropServices;

namespace Descent.Grains.Training;

/// <summary>
/// The trainers running in this process, and the rule that keeps them from crashing it when it exits.
/// <para>A process that exits (Main returns, <see cref="Environment.Exit"/>, a host stops) while a trainer thread
/// is inside libtorch runs libtorch's static destructors under that thread: seen as a segmentation fault in
/// <c>at::Context::float32Precision</c> during a backward pass (exit code 139) when descent-client quit during
/// a sweep. So at exit every running trainer is asked to stop at its next step, and a process whose trainers
/// have not all left libtorch within <see cref="ExitGrace"/> ends with <c>_exit(2)</c>: every thread stops at
/// once and no destructor runs. Results and spans are written before exit is reached, so nothing is lost.</para>
/// </summary>
public static class RunningTrainers
{
    static readonly CancellationTokenSource Exiting = new();
    static readonly object Gate = new(); // a monitor: OnProcessExit waits on it
    static int _running;
    static bool _exiting;

    static RunningTrainers() => AppDomain.CurrentDomain.ProcessExit += (_, _) => OnProcessExit();

    /// <summary>How long an exiting process waits for its trainers to reach the end of a step (default 1 s).</summary>
    public static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(1);

    /// <summary>Marks the calling thread as training until the scope is disposed; <paramref name="stop"/> is
    /// <paramref name="cancellation"/> or the process exiting, whichever comes first. Null once the process is
    /// exiting: the caller must not start anything in libtorch.</summary>
    internal static Scope? Enter(CancellationToken cancellation, out CancellationToken stop)
    {
        lock (Gate)
        {
            if (_exiting)
            {
                stop = new CancellationToken(canceled: true);
                return null;
            }
            _running++;
        }
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, Exiting.Token);
        stop = linked.Token;
        return new Scope(linked);
    }

    internal sealed class Scope(CancellationTokenSource linked) : IDisposable
    {
        public void Dispose()
        {
            linked.Dispose();
            lock (Gate)
            {
                _running--;
                Monitor.PulseAll(Gate);
            }
        }
    }

    static void OnProcessExit()
    {
        lock (Gate)
        {
            _exiting = true; // from now on no trainer starts (a queued trial of an embedded silo, say)
            if (_running == 0) return;
        }
        Exiting.Cancel();
        var deadline = DateTime.UtcNow + ExitGrace;
        lock (Gate)
        {
            while (_running > 0)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(Gate, left)) break;
            }
            if (_running == 0) return;
        }
        Console.Out.Flush();
        Console.Error.Flush();
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _exit(Environment.ExitCode);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    static extern void _exit(int status);
}
