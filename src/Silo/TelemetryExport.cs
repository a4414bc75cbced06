using Descent.Contracts;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Descent.Silo;

/// <summary>
/// OpenTelemetry export: on when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (optionally
/// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>: <c>grpc</c> or <c>http/protobuf</c>) is set, off (nothing built, nothing
/// exported, no noise) when it is not. Silos export as service <c>descent-silo</c>, the client as <c>descent-client</c>.
/// </summary>
public static class TelemetryExport
{
    public const string EndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string SiloService = "descent-silo", ClientService = "descent-client";

    /// <summary>Only the general endpoint switches export on: the client's exporter does not read the
    /// signal-specific ones, and a sweep span sent elsewhere would leave the trial spans without their parent.</summary>
    public static bool Enabled => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(EndpointVariable));

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
        return services;
    }

    /// <summary>The client's tracer provider (the sweep span; with <paramref name="orleans"/>, Orleans' client-side
    /// calls too), or null when export is off. Disposing it flushes what it holds.</summary>
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
