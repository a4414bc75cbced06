namespace Descent.Grains.Training;

/// <summary>
/// The running trial's sign of life, for whoever watches for hung trainers (the device worker's leases): set by
/// <see cref="Trainer.Run"/> on the trial's thread; the trainer beats whenever it enters a phase of a step, and code
/// that loops for long inside one phase (newton's Hessian, a backward pass per parameter) beats on each turn.
/// </summary>
public static class TrialHeartbeat
{
    [ThreadStatic] static Action? _current;

    /// <summary>Tells the watcher this trial's thread is making progress; nothing when no trial runs on this thread.</summary>
    public static void Beat() => _current?.Invoke();

    /// <summary>Sets this thread's heartbeat until the returned scope is disposed.</summary>
    internal static Scope Use(Action? heartbeat)
    {
        var previous = _current;
        _current = heartbeat;
        return new Scope(previous);
    }

    internal readonly struct Scope(Action? previous) : IDisposable
    {
        public void Dispose() => _current = previous;
    }
}
