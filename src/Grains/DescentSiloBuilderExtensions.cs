using Descent.Grains.Devices;
using Microsoft.Extensions.DependencyInjection;

namespace Descent.Grains;

public static class DescentSiloBuilderExtensions
{
    /// <summary>Descent's silo services: the device inventory (configured by <paramref name="devices"/>).
    /// Grain storage named <see cref="Sweeps.SweepStorage.Name"/> must be added by the host.</summary>
    public static ISiloBuilder AddDescent(this ISiloBuilder builder, Action<DeviceOptions>? devices = null)
    {
        builder.Services.AddOptions<DeviceOptions>().Configure(o => devices?.Invoke(o));
        builder.Services.AddSingleton<DeviceInventory>();
        return builder;
    }
}
