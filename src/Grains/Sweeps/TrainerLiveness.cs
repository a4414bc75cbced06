namespace Descent.Grains.Sweeps;

/// <summary>What the operating system says of a trial's thread at one moment: the CPU time it has used and whether it
/// is runnable (running, or waiting only for a core).</summary>
/// <param name="Cpu">User plus system CPU time the thread has used since it started (Linux: 10 ms resolution).</param>
/// <param name="Runnable">The thread is on a core or queued for one (Linux state <c>R</c>); false when it sleeps or
/// waits (<c>S</c>, <c>D</c>, ...): a blocked thread.</param>
public readonly record struct ThreadSample(TimeSpan Cpu, bool Runnable);

/// <summary>
/// Decides how long a trial's trainer has shown no sign of life, from two sources: the trainer's own beats (it entered
/// a phase of a step, <see cref="Training.TrialHeartbeat"/>) and samples of its thread taken by the device worker at
/// each renewal. A thread that used CPU since the previous sample, or that is runnable, is alive: one long native
/// operation (a Hessian's eigendecomposition of 5,000 parameters takes about 40 s, one phase) computes on that
/// thread, and a thread starved of cores by other processes waits runnable. Only a thread that neither beat nor
/// computed, asleep or blocked (a deadlock, a wait that never ends), for a lease timeout is hung.
/// Pure: times are given (a <see cref="TimeProvider"/>'s timestamps as <see cref="TimeSpan"/>s), so tests drive it.
/// Not thread-safe: the device worker's renewal loop alone observes it.
/// </summary>
public sealed class TrainerLiveness(TimeSpan start)
{
    /// <summary>The share of a sampling interval a thread must have computed for that CPU time to count as a sign of
    /// life: a thread that wakes now and then from a wait (a poll) uses far less; one that computes, even on a machine
    /// loaded several times over, far more.</summary>
    public const double MinCpuShare = 0.02;

    TimeSpan _lastLife = start;
    (TimeSpan At, TimeSpan Cpu)? _previous;

    /// <summary>When the trainer last showed a sign of life, as known from the last <see cref="Observe"/>.</summary>
    public TimeSpan LastLife => _lastLife;

    /// <summary>Takes in the trainer's last beat and, where the platform gives one, a sample of its thread at
    /// <paramref name="now"/>; returns how long the trainer has shown no sign of life (zero or more).</summary>
    /// <param name="now">The time of the observation; never earlier than the previous one.</param>
    /// <param name="lastBeat">When the trainer last entered a phase (its start if it has not yet).</param>
    /// <param name="sample">The thread's state now; null where it cannot be read (another operating system, the thread
    /// gone): then beats alone count.</param>
    public TimeSpan Observe(TimeSpan now, TimeSpan lastBeat, ThreadSample? sample)
    {
        if (lastBeat > _lastLife) _lastLife = lastBeat;
        if (sample is { } s)
        {
            var computed = _previous is { } p && now > p.At && (s.Cpu - p.Cpu).Ticks >= MinCpuShare * (now - p.At).Ticks && s.Cpu > p.Cpu;
            if (s.Runnable || computed) _lastLife = now;
            _previous = (now, s.Cpu);
        }
        return now > _lastLife ? now - _lastLife : TimeSpan.Zero;
    }
}

/// <summary>Samples a thread of this process from Linux's <c>/proc/self/task/TID/stat</c> (proc(5)): its state and its
/// CPU time. Elsewhere every call answers null, and hung trainers are told by their beats alone.</summary>
public static class ThreadSampler
{
    /// <summary>USER_HZ: Linux reports thread times in these ticks, 100 a second on every architecture .NET runs on.</summary>
    const double TicksPerSecond = 100;

    /// <summary>The calling thread's operating-system id, read from <c>/proc/thread-self</c>; null where there is none.</summary>
    public static int? CurrentThreadId()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            // "PID/task/TID"
            var target = new FileInfo("/proc/thread-self").LinkTarget;
            return target is not null && int.TryParse(target[(target.LastIndexOf('/') + 1)..], out var tid) ? tid : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The state and CPU time of thread <paramref name="threadId"/> of this process; null when it cannot be read
    /// (the thread has ended, or this is not Linux).</summary>
    public static ThreadSample? Read(int threadId)
    {
        try
        {
            return Parse(File.ReadAllText($"/proc/self/task/{threadId}/stat"), TicksPerSecond);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Parses a <c>stat</c> line: "tid (comm) S ..." with utime and stime the 14th and 15th fields, in clock
    /// ticks. The command name may hold spaces and parentheses, so fields are counted from its last ')'. Null when the
    /// line is not one.</summary>
    public static ThreadSample? Parse(string stat, double ticksPerSecond)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length) return null;
        // Fields from the 3rd (state) on.
        var fields = stat[(close + 2)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 13 || !long.TryParse(fields[11], out var user) || !long.TryParse(fields[12], out var system)) return null;
        return new ThreadSample(TimeSpan.FromSeconds((user + system) / ticksPerSecond), fields[0] == "R");
    }
}
