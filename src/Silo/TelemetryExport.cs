using System.Runtime.InteropServices;
using Descent.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Descent.Silo;

/// <summary>
/// OpenTelemetry export: on when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (optionally
/// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>: <c>grpc</c> or <c>http/protobuf</c>) is set, off (nothing built, nothing
/// exported, no noise) when it is not. Silos export as service <c>descent-silo</c>, the client as <c>descent-client</c>.
/// At exit, what is left is flushed within <c>Descent:ExportFlushTimeout</c> (<see cref="Shutdown"/>), so that a
/// collector that does not answer costs at most that.
/// </summary>
public static class TelemetryExport
{
    public const string EndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string SiloService = "descent-silo", ClientService = "descent-client";

    /// <summary>Only the general endpoint switches export on: the client's exporter does not read the
    /// signal-specific ones, and a sweep span sent elsewhere would leave the trial spans without their parent.</summary>
    public static bool Enabled => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(EndpointVariable));

    /// <summary>How long a process waits at exit for its spans and metrics to reach the collector, unless
    /// <c>Descent:ExportFlushTimeout</c> says otherwise (OpenTelemetry's own grace is 5 s per provider, after an export
    /// that waits 10 s for an answer).</summary>
    public static readonly TimeSpan DefaultFlushTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The longest <c>Descent:ExportFlushTimeout</c> a silo takes: its whole shutdown gets
    /// <see cref="SiloHosting.ShutdownTimeout"/>.</summary>
    public static readonly TimeSpan MaxFlushTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The variable that sets the client's <c>Descent:ExportFlushTimeout</c> (its embedded silo reads the same).</summary>
    public const string FlushTimeoutVariable = "DESCENT__EXPORTFLUSHTIMEOUT";

    /// <summary>What is wrong with <paramref name="timeout"/> as <c>Descent:ExportFlushTimeout</c>, or null.</summary>
    public static string? FlushTimeoutProblem(TimeSpan timeout) => timeout < TimeSpan.Zero || timeout > MaxFlushTimeout
        ? $"{DescentSiloOptions.Section}:{nameof(DescentSiloOptions.ExportFlushTimeout)} = {timeout}: must be between 00:00:00 and {MaxFlushTimeout}"
        : null;

    /// <summary>The client's exit flush bound, from <see cref="FlushTimeoutVariable"/> (a duration such as
    /// <c>00:00:02</c>), else <see cref="DefaultFlushTimeout"/>.</summary>
    /// <exception cref="FormatException">The variable holds no duration in range; the message names it and its value.</exception>
    public static TimeSpan ClientFlushTimeout()
    {
        var text = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(k => string.Equals(k, FlushTimeoutVariable, StringComparison.OrdinalIgnoreCase))
            .Select(Environment.GetEnvironmentVariable).FirstOrDefault();
        if (string.IsNullOrWhiteSpace(text)) return DefaultFlushTimeout;
        if (!TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var timeout))
            throw new FormatException($"{FlushTimeoutVariable} = \"{text}\": expected a duration such as 00:00:02");
        return FlushTimeoutProblem(timeout) is { } problem ? throw new FormatException($"{FlushTimeoutVariable}: {problem}") : timeout;
    }

    /// <summary>Shuts <paramref name="providers"/> (tracer, meter and logger providers; nulls are skipped) down at once, each
    /// exporting what it holds (OpenTelemetry's <c>Shutdown(timeout)</c>: an export still waiting for the collector at
    /// the bound is abandoned to its background thread, which ends with the process). Waits at most
    /// <paramref name="timeout"/> in all, less when <paramref name="cutShort"/> is cancelled or the process receives
    /// SIGINT, SIGTERM or SIGHUP meanwhile (Ctrl-C at exit ends the wait). Never throws.</summary>
    /// <returns>Whether every provider finished within the wait (what it held was exported, or given up by its exporter).</returns>
    public static async Task<bool> Shutdown(IEnumerable<BaseProvider?> providers, TimeSpan timeout, CancellationToken cutShort = default)
    {
        var milliseconds = (int)Math.Min(timeout.TotalMilliseconds, int.MaxValue);
        var shutdowns = providers.OfType<BaseProvider>().Select(provider => Started(() => provider switch
        {
            TracerProvider tracer => tracer.Shutdown(milliseconds),
            MeterProvider meter => meter.Shutdown(milliseconds),
            LoggerProvider logger => logger.Shutdown(milliseconds),
            _ => true,
        })).ToList();
        if (shutdowns.Count == 0) return true;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cutShort);
        PosixSignalRegistration[] signals = [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }.Select(signal =>
            PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true; // the process is exiting already: this only ends the wait
                // Not on this thread: what follows the wait (a host disposing its providers) must not hold up the
                // other handlers of this signal.
                try { _ = stop.CancelAsync(); }
                catch (ObjectDisposedException) { }
            }))];
        try
        {
            // A little past the providers' own bound, at which they give up.
            await Task.WhenAll(shutdowns).WaitAsync(timeout + TimeSpan.FromMilliseconds(200), stop.Token);
            return true;
        }
        catch (Exception)
        {
            // Timed out, cut short, or a provider that failed to shut down: the process exits regardless.
            return false;
        }
        finally
        {
            foreach (var signal in signals) signal.Dispose();
        }
    }

    /// <summary>Runs <paramref name="shutdown"/> on a thread of its own, started now: a provider disposed before its
    /// shutdown began would wait OpenTelemetry's 5 s grace (a busy thread pool may start a queued one late), and a
    /// background thread does not keep the process alive.</summary>
    static Task<bool> Started(Func<bool> shutdown)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try { done.SetResult(shutdown()); }
            catch (Exception e) { done.SetException(e); }
        }) { IsBackground = true, Name = "Descent exit flush" }.Start();
        return done.Task;
    }

    /// <summary>The silo's traces (trial spans and their steps, Orleans' calls) and metrics (Descent's meter,
    /// Orleans'), exported by providers that the host flushes when it stops.</summary>
    /// <param name="metrics">Export metrics too (off for a backend that keeps traces only, such as Jaeger).</param>
    public static IServiceCollection AddSiloTelemetry(this IServiceCollection services, bool metrics = true)
    {
        if (!Enabled) return services;
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(SiloService))
            .WithTracing(t => t.AddSource([DescentTelemetry.SiloSource, .. DescentTelemetry.OrleansSources]));
        if (metrics) telemetry.WithMetrics(m => m.AddMeter(DescentTelemetry.MeterName, DescentTelemetry.OrleansMeter));
        telemetry.UseOtlpExporter();
        // Added before the silo: stopped after it, when its trials' spans have ended.
        services.AddHostedService<ExitFlush>();
        return services;
    }

    /// <summary>The client's tracer provider (the sweep span; with <paramref name="orleans"/>, Orleans' client-side
    /// calls too), or null when export is off. <see cref="Shutdown"/> flushes what it holds within a bound; disposing
    /// it would wait up to 5 s more for a collector that does not answer.</summary>
    public static TracerProvider? StartClient(bool orleans)
    {
        if (!Enabled) return null;
        return Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(r => r.AddService(ClientService))
            .AddSource(orleans ? [DescentTelemetry.ClientSource, .. DescentTelemetry.OrleansSources] : [DescentTelemetry.ClientSource])
            .AddOtlpExporter()
            .Build();
    }
}

/// <summary>Flushes the silo's tracer, meter and logger providers (<c>UseOtlpExporter</c> exports the log too) when the host stops, within
/// <c>Descent:ExportFlushTimeout</c> (<see cref="TelemetryExport.Shutdown"/>), before the host disposes them (which
/// would wait 5 s each for a collector that does not answer).</summary>
sealed class ExitFlush(IServiceProvider services, IOptions<DescentSiloOptions> options) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => TelemetryExport.Shutdown(
        [services.GetService<TracerProvider>(), services.GetService<MeterProvider>(), services.GetService<LoggerProvider>()],
        options.Value.ExportFlushTimeout, cancellationToken);
}
