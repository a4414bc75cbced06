using Descent.Grains.Devices;
using Descent.Grains.Telemetry;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Descent.Grains;

public static class DescentSiloBuilderExtensions
{
    /// <summary>Descent's silo services: the device inventory (configured by <paramref name="devices"/>).
    /// Grain storage named <see cref="Sweeps.SweepStorage.Name"/> must be added by the host.</summary>
    public static ISiloBuilder AddDescent(this ISiloBuilder builder, Action<DeviceOptions>? devices = null, Action<TracingOptions>? tracing = null,
        Action<LeaseOptions>? leases = null)
    {
        builder.Services.AddOptions<DeviceOptions>().Configure(o => devices?.Invoke(o));
        builder.Services.AddOptions<TracingOptions>().Configure(o => tracing?.Invoke(o));
        builder.Services.AddOptions<LeaseOptions>().Configure(o => leases?.Invoke(o))
            .Validate(o => !o.Problems().Any(), "invalid lease settings (Descent:Leases)");
        // Every storage provider that takes Orleans' serializer from the services writes Descent's versioned format.
        builder.Services.AddSingleton<StateSerializer>();
        builder.Services.AddSingleton<Orleans.Storage.IGrainStorageSerializer>(sp => sp.GetRequiredService<StateSerializer>());
        builder.Services.AddSingleton<DeviceInventory>();
        builder.Services.AddHostedService<DeviceDiscovery>();
        builder.Services.TryAddSingleton<ITrialRunner, TorchTrialRunner>();
        builder.Services.AddSingleton<DeviceWorker>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<DeviceWorker>());
        return builder;
    }

    /// <summary>Descent's silo services with <see cref="DeviceOptions"/>, <see cref="TracingOptions"/> and
    /// <see cref="LeaseOptions"/> bound from <paramref name="settings"/>' sections <c>Devices</c>, <c>Tracing</c> and
    /// <c>Leases</c> (the silo's section "Descent").</summary>
    public static ISiloBuilder AddDescent(this ISiloBuilder builder, IConfiguration settings)
    {
        builder.Services.AddOptions<DeviceOptions>().Bind(settings.GetSection("Devices"));
        builder.Services.AddOptions<TracingOptions>().Bind(settings.GetSection("Tracing"));
        builder.Services.AddOptions<LeaseOptions>().Bind(settings.GetSection("Leases"));
        builder.Services.AddOptions<DataRootOptions>().Configure(o => o.Root = settings["DataRoot"] is { Length: > 0 } root ? root : null);
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
