namespace Descent.Grains.Sweeps;

/// <summary>Runs a trial on a thread of its own: TorchSharp's grad mode and dispose scopes are per thread, and a
/// trial must neither block the Orleans scheduler nor occupy a thread-pool thread for minutes.</summary>
static class TrialThread
{
    public static Task<T> Run<T>(Func<T> body, string name)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            // A new thread inherits the caller's activity (Orleans' span of the Start call); the trial span gets
            // its parent explicitly (the sweep span) instead.
            System.Diagnostics.Activity.Current = null;
            try { done.SetResult(body()); }
            catch (Exception e) { done.SetException(e); }
        })
        {
            IsBackground = true,
            Name = $"trial {name}",
        };
        thread.Start();
        return done.Task;
    }
}
