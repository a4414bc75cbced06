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
