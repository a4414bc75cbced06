using Descent.Grains.Devices;
using Descent.Grains.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Descent.Grains;

public static class DescentSiloBuilderExtensions
{
    /// <summary>Descent's silo services: the device inventory (configured by <paramref name="devices"/>).
    /// Grain storage named <see cref="Sweeps.SweepStorage.Name"/> must be added by the host.</summary>
    public static ISiloBuilder AddDescent(this ISiloBuilder builder, Action<DeviceOptions>? devices = null, Action<TracingOptions>? tracing = null)
    {
        builder.Services.AddOptions<DeviceOptions>().Configure(o => devices?.Invoke(o));
        builder.Services.AddOptions<TracingOptions>().Configure(o => tracing?.Invoke(o));
        builder.Services.AddSingleton<DeviceInventory>();
        builder.Services.AddHostedService<DeviceDiscovery>();
        return builder;
    }

    /// <summary>Descent's silo services with <see cref="DeviceOptions"/> and <see cref="TracingOptions"/> bound from
    /// <paramref name="settings"/>' sections <c>Devices</c> and <c>Tracing</c> (the silo's section "Descent").</summary>
    public static ISiloBuilder AddDescent(this ISiloBuilder builder, IConfiguration settings)
    {
        builder.Services.AddOptions<DeviceOptions>().Bind(settings.GetSection("Devices"));
        builder.Services.AddOptions<TracingOptions>().Bind(settings.GetSection("Tracing"));
        return builder.AddDescent();
    }

    /// <summary>Discovers the devices when the silo starts (not at the first trial), so that a bad device
    /// setting stops the silo at once and the log says what this silo offers.</summary>
    sealed class DeviceDiscovery(DeviceInventory devices) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.FromResult(devices.Slots.Count);
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
