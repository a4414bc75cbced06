using System.Net;
using Descent.Grains;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;

namespace Descent.Silo;

public static class SiloHosting
{
    /// <summary>Makes this host a Descent silo as <paramref name="settings"/> describe. Used by descent-silo and
    /// by the client's embedded mode.</summary>
    public static IHostApplicationBuilder AddDescentSilo(this IHostApplicationBuilder builder, SiloSettings settings)
    {
        var problems = settings.Problems();
        if (problems.Count > 0) throw new SiloSettingsException(problems);

        // Running trials get this long to hand themselves back when the silo is asked to stop.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        builder.Services.AddSiloTelemetry(settings.ExportMetrics);
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (settings.ClusterId, settings.ServiceId));
            // Trace context flows with grain calls (the trial spans' parent, the sweep span, is passed explicitly).
            silo.AddActivityPropagation();
            switch (settings.Clustering)
            {
                case "localhost":
                    var primary = settings.PrimarySiloPort is { } port ? new IPEndPoint(IPAddress.Loopback, port) : null;
                    silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort, primary, settings.ServiceId, settings.ClusterId);
                    if (settings.ListenOnAllInterfaces)
                        silo.Configure<EndpointOptions>(o =>
                        {
                            o.SiloListeningEndpoint = new IPEndPoint(IPAddress.Any, settings.SiloPort);
                            o.GatewayListeningEndpoint = new IPEndPoint(IPAddress.Any, settings.GatewayPort);
                        });
                    break;
            }
            switch (settings.Storage)
            {
                case "memory":
                    silo.AddMemoryGrainStorage(SweepStorage.Name);
                    break;
                case "process":
                    silo.Services.AddGrainStorage(SweepStorage.Name, (sp, _) => new ProcessGrainStorage(sp.GetRequiredService<Serializer>()));
                    break;
            }
            // Reminders wake unfinished sweeps whose coordinator's silo was lost.
            silo.UseInMemoryReminderService();
            silo.AddDescent(o =>
            {
                o.CpuSlots = settings.Devices.CpuSlots;
                o.TrialsPerDevice = settings.Devices.TrialsPerDevice;
                o.UseCuda = settings.Devices.UseCuda;
            }, o =>
            {
                o.FirstSteps = settings.Tracing.FirstSteps;
                o.EveryStep = settings.Tracing.EveryStep;
            }, o =>
            {
                o.Timeout = settings.Leases.Timeout;
                o.RenewEvery = settings.Leases.RenewEvery;
            });
        });
        return builder;
    }
}

/// <summary>Settings the silo cannot start with; the message lists every problem.</summary>
public sealed class SiloSettingsException(IReadOnlyList<string> problems) : Exception(string.Join(Environment.NewLine, problems));
