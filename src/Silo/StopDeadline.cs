using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Descent.Silo;

/// <summary>
/// Bounds how long descent-silo takes to end once asked to stop: a graceful stop gets
/// <see cref="SiloHosting.ShutdownTimeout"/> and a little more (a pod's grace period must be longer), after which the
/// process ends with exit code 1 and one line. A silo lost from the cluster stops at once and
/// gets <see cref="LostGrace"/>, and so does a silo that cannot go on (<see cref="StopBecause"/>): it cannot update a membership table that no longer knows it, which Orleans would
/// otherwise retry for the whole shutdown timeout (seen: a silo whose Redis was emptied ignored SIGTERM for minutes).
/// </summary>
public sealed class StopDeadline(IHostApplicationLifetime lifetime, MembershipWatch watch, ILogger<StopDeadline> log) : IHostedService
{
    /// <summary>What a graceful stop gets beyond <see cref="SiloHosting.ShutdownTimeout"/> before the process ends.</summary>
    public static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);

    /// <summary>How long a silo that is not in the membership table gets to stop.</summary>
    public static readonly TimeSpan LostGrace = TimeSpan.FromSeconds(5);

    volatile string? _lost;
    volatile bool _enforced;
    int _armed;

    /// <summary>From now on a stop that overruns ends the process (descent-silo; the client's embedded silo does not
    /// call it: the client decides how long its own stop may take).</summary>
    public void Enforce() => _enforced = true;

    /// <summary>Why the silo stopped on its own (lost from the cluster, its store failed), or null: descent-silo prints
    /// it and exits 1.</summary>
    public string? Reason => _lost;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // A silo the table no longer has cannot write "shutting down" there: Orleans would retry for the whole timeout.
        lifetime.ApplicationStopping.Register(() => Arm(!watch.Gone && _lost is null ? SiloHosting.ShutdownTimeout + Margin : LostGrace));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops the silo because it cannot go on (lost from the cluster, its store cannot be written), at once and
    /// within <see cref="LostGrace"/>: <paramref name="reason"/> is its exit line.</summary>
    public void StopBecause(string reason)
    {
        _lost = reason;
        log.LogError("{Reason}", reason);
        lifetime.StopApplication();
    }

    void Arm(TimeSpan within)
    {
        if (!_enforced || Interlocked.Exchange(ref _armed, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            await Task.Delay(within);
            var why = _lost is { } lost ? lost
                : !watch.Gone ? $"did not stop within {within.TotalSeconds:0} s of the request to stop"
                : $"did not stop within {within.TotalSeconds:0} s of the request to stop while not a member of the cluster ({watch.Why})";
            Say($"{why}; ending the process (exit code 1)");
            Exit(1);
        });
    }

    int _said;

    /// <summary>Writes descent-silo's last line, once: the backstop and the host's own return may both get there.</summary>
    public void Say(string line)
    {
        if (Interlocked.Exchange(ref _said, 1) == 1) return;
        Console.Error.WriteLine($"descent-silo: {line}");
        Console.Error.Flush();
    }

    /// <summary>Ends the process at once: <see cref="Environment.Exit"/> would run the host's exit handlers, which wait
    /// for the very stop that did not finish.</summary>
    static void Exit(int code)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _exit(code);
        Environment.Exit(code);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    static extern void _exit(int status);
}
