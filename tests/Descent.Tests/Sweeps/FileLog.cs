using Microsoft.Extensions.Logging;

namespace Descent.Tests.Sweeps;

/// <summary>When DESCENT_TEST_LOG names a file, cluster tests append Descent's and Orleans' warnings (and
/// Descent's information) there: the way to see inside a silo when a cluster test fails.</summary>
sealed class FileLog(string path) : ILoggerProvider
{
    static readonly Lock Gate = new();

    public static void AddTo(ILoggingBuilder logging)
    {
        if (Environment.GetEnvironmentVariable("DESCENT_TEST_LOG") is { Length: > 0 } path) logging.AddProvider(new FileLog(path));
    }

    public ILogger CreateLogger(string category) => new Logger(path, category);
    public void Dispose() { }

    sealed class Logger(string path, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel level) => level >= (category.StartsWith("Descent", StringComparison.Ordinal) ? LogLevel.Information : LogLevel.Warning);
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? e, Func<TState, Exception?, string> format)
        {
            if (!IsEnabled(level)) return;
            lock (Gate) File.AppendAllText(path, $"{DateTime.UtcNow:HH:mm:ss.fff} {level} {category}: {format(state, e)} {e?.GetType().Name} {e?.Message}\n");
        }
    }
}
