using Descent.Grains.Sweeps;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Descent.Silo;

/// <summary>What a silo's settings chose, in words: its providers and where they keep their data (Redis addresses
/// without passwords), and its endpoints. Said once when the silo starts, and used by messages about lost data.</summary>
public static class SiloSetup
{
    /// <summary>The sweep storage as <paramref name="settings"/> choose it.</summary>
    public static SweepStorageInfo Storage(DescentSiloOptions settings) =>
        new(settings.Storage, settings.Storage switch
        {
            "redis" when settings.Redis is { Length: > 0 } redis => RedisAddress.Describe(RedisAddress.Parse(redis, "Descent:Redis")),
            "local" => settings.StoragePath ?? "",
            _ => "",
        });

    /// <summary>One line: "clustering redis (Redis at 10.0.0.5:6379), storage redis (...), reminders redis; silo
    /// 10.0.0.7:11111, gateway 10.0.0.7:30000, listening on 10.0.0.7".</summary>
    public static string Describe(DescentSiloOptions settings, EndpointOptions endpoints)
    {
        string Provider(string name) => Where(name, settings) is { Length: > 0 } where ? $"{name} ({where})" : name;
        var gateway = endpoints.GatewayPort == 0 ? "no gateway" : $"gateway {endpoints.AdvertisedIPAddress}:{endpoints.GatewayPort}";
        var listen = settings.ListenOnAllInterfaces ? "every interface" : $"{endpoints.AdvertisedIPAddress}";
        return $"clustering {Provider(settings.Clustering)}, storage {Provider(settings.Storage)}, reminders {Provider(settings.Reminders)}; "
            + $"silo {endpoints.AdvertisedIPAddress}:{endpoints.SiloPort}, {gateway}, listening on {listen}";
    }

    static string Where(string provider, DescentSiloOptions settings) => provider switch
    {
        "redis" when settings.Redis is { Length: > 0 } redis => $"Redis at {RedisAddress.Describe(RedisAddress.Parse(redis, "Descent:Redis"))}",
        "local" => settings.StoragePath ?? "",
        "localhost" => "the silos of this machine",
        _ => "",
    };

    /// <summary>Logs <see cref="Describe"/> once the silo has joined.</summary>
    public sealed class Announce(IOptions<DescentSiloOptions> settings, IOptions<EndpointOptions> endpoints, ILocalSiloDetails local, ILogger<Announce> log)
        : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) =>
            lifecycle.Subscribe(nameof(SiloSetup), ServiceLifecycleStage.Active, _ =>
            {
                log.LogInformation("Silo {Silo} of cluster {Cluster}: {Setup}", local.SiloAddress, local.ClusterId, Describe(settings.Value, endpoints.Value));
                return Task.CompletedTask;
            });
    }
}
