using System.Net;
using Descent.Grains.Sweeps;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Microsoft.Extensions.Hosting;
using Orleans.Clustering.Redis;
using Orleans.Storage;
using StackExchange.Redis;

namespace Descent.Silo;

/// <summary>
/// The providers a silo's settings choose by name: <c>Descent:Clustering</c>, <c>Descent:Storage</c>,
/// <c>Descent:Reminders</c>. Each entry adds one provider to the silo; another provider (Redis, Kubernetes) is one
/// more entry here. Providers read their other settings from <see cref="IOptions{DescentSiloOptions}"/> when the
/// silo starts, after validation.
/// </summary>
public static class SiloProviders
{
    public static readonly ProviderChoice Clustering = new(nameof(DescentSiloOptions.Clustering), new()
    {
        ["localhost"] = LocalhostClustering,
        ["redis"] = silo => silo.UseRedisClustering(_ => { }).Services.AddOptions<RedisClusteringOptions>()
            .Configure<IOptions<DescentSiloOptions>>((o, settings) => o.ConfigurationOptions = Redis(settings)),
    });

    /// <summary>The grain storage named <see cref="SweepStorage.Name"/>, where sweeps and leaderboards persist.</summary>
    public static readonly ProviderChoice Storage = new(nameof(DescentSiloOptions.Storage), new()
    {
        ["memory"] = silo => silo.AddMemoryGrainStorage(SweepStorage.Name),
        ["process"] = silo => silo.Services.AddGrainStorage(SweepStorage.Name,
            (services, _) => new ProcessGrainStorage(services.GetRequiredService<IGrainStorageSerializer>())),
        ["redis"] = silo => silo.AddRedisGrainStorage(SweepStorage.Name, options => options
            .Configure<IOptions<DescentSiloOptions>, IGrainStorageSerializer>((o, settings, serializer) =>
            {
                o.ConfigurationOptions = Redis(settings);
                o.GrainStorageSerializer = serializer;
            })),
        ["local"] = silo => silo.Services.AddGrainStorage(SweepStorage.Name, (services, _) => new LocalGrainStorage(
            services.GetRequiredService<IOptions<DescentSiloOptions>>().Value.StoragePath!, services.GetRequiredService<IGrainStorageSerializer>())),
    });

    public static readonly ProviderChoice Reminders = new(nameof(DescentSiloOptions.Reminders), new()
    {
        ["memory"] = silo => silo.UseInMemoryReminderService(),
        ["redis"] = silo => silo.UseRedisReminderService(_ => { }).Services.AddOptions<RedisReminderTableOptions>()
            .Configure<IOptions<DescentSiloOptions>>((o, settings) => o.ConfigurationOptions = Redis(settings)),
    });

    /// <summary>The Redis of <c>Descent:Redis</c> (checked by the validator before any provider reads it).</summary>
    static ConfigurationOptions Redis(IOptions<DescentSiloOptions> settings) =>
        RedisAddress.Parse(settings.Value.Redis ?? "", $"{DescentSiloOptions.Section}:{nameof(DescentSiloOptions.Redis)}");

    /// <summary>Development clustering on one machine, as Orleans' <c>UseLocalhostClustering</c>: silos advertise
    /// loopback, and the primary silo (<c>PrimarySiloPort</c>, or this one) keeps the membership table.</summary>
    static void LocalhostClustering(ISiloBuilder silo)
    {
        silo.Configure<EndpointOptions>(o => o.AdvertisedIPAddress = IPAddress.Loopback);
        silo.UseDevelopmentClustering(membership => membership.Configure<IOptions<DescentSiloOptions>>((o, settings) =>
            o.PrimarySiloEndpoint = new IPEndPoint(IPAddress.Loopback, settings.Value.PrimarySiloPort ?? settings.Value.SiloPort)));
    }
}

/// <summary>The providers one setting (<see cref="Key"/>, e.g. <c>Descent:Storage</c>) chooses between, by name,
/// in the order the validator lists them.</summary>
public sealed class ProviderChoice(string setting, OrderedDictionary<string, Action<ISiloBuilder>> providers)
{
    /// <summary>The setting's configuration key, e.g. <c>Descent:Storage</c>.</summary>
    public string Key { get; } = ConfigurationPath.Combine(DescentSiloOptions.Section, setting);

    public IEnumerable<string> Names => providers.Keys;

    /// <summary>Null when <paramref name="name"/> is a known provider, else the problem naming the setting, the
    /// value and the known names.</summary>
    public string? Problem(string? name) =>
        name is not null && providers.ContainsKey(name) ? null : $"{Key} = \"{name}\": expected {string.Join(" or ", Names)}";

    /// <summary>Adds the provider <paramref name="configuration"/> names (or <paramref name="fallback"/>) to
    /// <paramref name="silo"/>. An unknown name adds nothing: the options' validator refuses it before the silo
    /// starts.</summary>
    public void AddTo(ISiloBuilder silo, IConfiguration configuration, string fallback)
    {
        if (providers.TryGetValue(configuration[Key] ?? fallback, out var add)) add(silo);
    }
}
