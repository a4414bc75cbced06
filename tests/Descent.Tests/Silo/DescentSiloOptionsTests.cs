using System.Net;
using Descent.Grains.Devices;
using Descent.Grains.Sweeps;
using Descent.Grains.Telemetry;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace Descent.Tests.Silo;

/// <summary>The silo's settings: section "Descent" bound to <see cref="DescentSiloOptions"/>, every problem named by
/// <see cref="DescentSiloOptionsValidator"/>, and what <see cref="SiloHosting.AddDescentSilo"/> makes of them
/// (hosts built, never started).</summary>
public class DescentSiloOptionsTests
{
    static DescentSiloOptions Bind(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection(DescentSiloOptions.Section).Get<DescentSiloOptions>()
        ?? new DescentSiloOptions();

    static IReadOnlyList<string> Problems(DescentSiloOptions options) =>
        new DescentSiloOptionsValidator().Validate(Options.DefaultName, options).Failures?.ToList() ?? [];

    static IHost Silo(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddDescentSilo();
        return builder.Build();
    }

    [Fact]
    public void The_defaults_are_valid_and_are_the_documented_ones()
    {
        var o = Bind([]);
        Assert.Empty(Problems(o));
        Assert.Equal(("localhost", "memory", "memory"), (o.Clustering, o.Storage, o.Reminders));
        Assert.Equal(("descent", "descent", 11111, 30000, (int?)null), (o.ClusterId, o.ServiceId, o.SiloPort, o.GatewayPort, o.PrimarySiloPort));
        Assert.Equal((false, true), (o.ListenOnAllInterfaces, o.ExportMetrics));
        Assert.Equal(((int?)null, 1, true), (o.Devices.CpuSlots, o.Devices.TrialsPerDevice, o.Devices.UseCuda));
        Assert.Equal((10, 100), (o.Tracing.FirstSteps, o.Tracing.EveryStep));
    }

    [Theory]
    [InlineData("Descent:Clustering", "zookeeper", "Descent:Clustering = \"zookeeper\": expected localhost or redis")]
    [InlineData("Descent:Storage", "disk", "Descent:Storage = \"disk\": expected memory or process or redis or local")]
    [InlineData("Descent:Storage", "Memory", "Descent:Storage = \"Memory\": expected memory or process or redis or local")]
    [InlineData("Descent:Reminders", "adonet", "Descent:Reminders = \"adonet\": expected memory or redis")]
    [InlineData("Descent:Storage", "redis",
        "Descent:Redis = \"\": Redis clustering, storage or reminders need the Redis to use, e.g. redis://redis-host:6379")]
    [InlineData("Descent:Redis", "redis://host:99999", "Descent:Redis = \"redis://host:99999\": port \"99999\" is not between 1 and 65535; expected redis://host:port or host:port[,password=...]")]
    [InlineData("Descent:Redis", "redis://:secret@host:x", "Descent:Redis = \"redis://***@host:x\": port \"x\" is not between 1 and 65535; expected redis://host:port or host:port[,password=...]")]
    [InlineData("Descent:AdvertisedAddress", "no-such-host.invalid", "Descent:AdvertisedAddress = \"no-such-host.invalid\": not an IP address, and the host name does not resolve")]
    [InlineData("Descent:Membership:ProbeTimeout", "00:00:00", "Descent:Membership:ProbeTimeout = 00:00:00: expected more than 0 and at most 00:05:00")]
    [InlineData("Descent:Membership:MaxProbeTimeout", "00:00:01", "Descent:Membership:MaxProbeTimeout = 00:00:01: expected at least ProbeTimeout (00:00:02) and at most 00:10:00")]
    [InlineData("Descent:Membership:NumMissedProbesLimit", "0", "Descent:Membership:NumMissedProbesLimit = 0: must be at least 1")]
    [InlineData("Descent:Membership:NumVotesForDeathDeclaration", "0", "Descent:Membership:NumVotesForDeathDeclaration = 0: must be at least 1")]
    [InlineData("Descent:Membership:IAmAliveTablePublishTimeout", "00:00:00.1", "Descent:Membership:IAmAliveTablePublishTimeout = 00:00:00.1000000: expected between 00:00:00.5 and 00:10:00")]
    [InlineData("Descent:ClusterId", " ", "Descent:ClusterId = \" \": must not be empty")]
    [InlineData("Descent:ServiceId", "", "Descent:ServiceId = \"\": must not be empty")]
    [InlineData("Descent:SiloPort", "0", "Descent:SiloPort = 0: expected a port between 1 and 65535")]
    [InlineData("Descent:GatewayPort", "70000", "Descent:GatewayPort = 70000: expected a port between 1 and 65535, or 0 for no gateway")]
    [InlineData("Descent:PrimarySiloPort", "-1", "Descent:PrimarySiloPort = -1: expected a port between 1 and 65535")]
    [InlineData("Descent:Devices:CpuSlots", "0", "Descent:Devices:CpuSlots = 0: must be at least 1")]
    [InlineData("Descent:Devices:Cores", "0", "Descent:Devices:Cores = 0: must be at least 1 (unset: every core)")]
    [InlineData("Descent:Devices:TrialsPerDevice", "0", "Descent:Devices:TrialsPerDevice = 0: must be at least 1")]
    [InlineData("Descent:Tracing:FirstSteps", "-1", "Descent:Tracing:FirstSteps = -1: must be 0 or more")]
    [InlineData("Descent:Tracing:EveryStep", "-5", "Descent:Tracing:EveryStep = -5: must be 0 or more (0: no step spans after the first ones)")]
    [InlineData("Descent:Leases:Timeout", "00:00:00", "Descent:Leases:Timeout = 00:00:00: must be above 0")]
    [InlineData("Descent:Leases:RenewEvery", "00:00:20",
        "Descent:Leases:RenewEvery = 00:00:20: must be at most a third of Descent:Leases:Timeout (00:00:30), so that one lost renewal does not expire a lease")]
    [InlineData("Descent:Leases:Ahead", "-00:00:01", "Descent:Leases:Ahead = -00:00:01: must be 0 (off) or above")]
    [InlineData("Descent:Leases:Ahead", "02:00:00", "Descent:Leases:Ahead = 02:00:00: must be at most 01:00:00 (work held ahead is work other devices cannot take)")]
    [InlineData("Descent:DataRoot", "/no/such/folder", "Descent:DataRoot = \"/no/such/folder\": must be an existing folder, given as an absolute path")]
    [InlineData("Descent:DataRoot", "data", "Descent:DataRoot = \"data\": must be an existing folder, given as an absolute path")]
    public void A_bad_setting_is_named_with_its_value(string key, string value, string problem)
    {
        // The host name resolver's own words follow in brackets, and differ between machines.
        static void Matches(string expected, IEnumerable<string> actual)
        {
            var line = Assert.Single(actual);
            if (expected.EndsWith("does not resolve", StringComparison.Ordinal)) Assert.StartsWith(expected + " (", line);
            else Assert.Equal(expected, line);
        }
        Matches(problem, Problems(Bind(new() { [key] = value })));
        // The same line from the host, whichever way the setting arrives (keys are not case-sensitive).
        using var silo = Silo(new() { [key.ToUpperInvariant()] = value });
        Matches(problem, silo.SettingsProblems());
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var problems = Problems(Bind(new() { ["Descent:Storage"] = "disk", ["Descent:SiloPort"] = "0", ["Descent:Tracing:EveryStep"] = "-1" }));
        Assert.Equal(3, problems.Count);
    }

    [Theory]
    [InlineData("Descent:Clustering", "localhost")]
    [InlineData("Descent:Storage", "memory")]
    [InlineData("Descent:Storage", "process")]
    [InlineData("Descent:Reminders", "memory")]
    [InlineData("Descent:PrimarySiloPort", "")]
    [InlineData("Descent:Devices:CpuSlots", "1")]
    [InlineData("Descent:Tracing:EveryStep", "0")]
    [InlineData("Descent:Leases:Timeout", "00:02:00")]
    [InlineData("Descent:DataRoot", "/tmp")]
    [InlineData("Descent:Redis", "redis://127.0.0.1:6379")]
    [InlineData("Descent:Redis", "rediss://:pw@redis-0.redis,redis-1.redis:6380/2")]
    [InlineData("Descent:Redis", "127.0.0.1:6379,password=pw,ssl=true")]
    [InlineData("Descent:AdvertisedAddress", "127.0.0.5")]
    [InlineData("Descent:AdvertisedAddress", "localhost")]
    [InlineData("Descent:Membership:ProbeTimeout", "00:00:04")]
    public void A_good_setting_passes(string key, string value) => Assert.Empty(Problems(Bind(new() { [key] = value })));

    [Fact]
    public void The_known_providers_are_the_registry_entries()
    {
        Assert.Equal(["localhost", "redis"], SiloProviders.Clustering.Names);
        Assert.Equal(["memory", "process", "redis", "local"], SiloProviders.Storage.Names);
        Assert.Equal(["memory", "redis"], SiloProviders.Reminders.Names);
        Assert.Equal(["Descent:Clustering", "Descent:Storage", "Descent:Reminders"],
            new[] { SiloProviders.Clustering, SiloProviders.Storage, SiloProviders.Reminders }.Select(c => c.Key));
    }

    [Fact]
    public void A_value_of_the_wrong_type_is_named_with_the_setting_too()
    {
        using var silo = Silo(new() { ["Descent:Devices:CpuSlots"] = "many" });
        var problem = Assert.Single(silo.SettingsProblems());
        Assert.Contains("'many'", problem);
        Assert.Contains("'Descent:Devices:CpuSlots'", problem);
    }

    [Theory]
    [InlineData("memory", typeof(MemoryGrainStorage))]
    [InlineData("process", typeof(ProcessGrainStorage))]
    [InlineData("local", typeof(LocalGrainStorage))]
    public void The_storage_setting_chooses_the_sweeps_grain_storage(string storage, Type expected)
    {
        using var silo = Silo(new() { ["Descent:Storage"] = storage, ["Descent:StoragePath"] = Path.Combine(Path.GetTempPath(), "descent-store-unused") });
        Assert.IsType(expected, silo.Services.GetRequiredKeyedService<IGrainStorage>(SweepStorage.Name));
        // Grain states are stored in Descent's versioned format (Orleans' serializer by aliases and field ids inside).
        Assert.IsType<StateSerializer>(silo.Services.GetRequiredService<IGrainStorageSerializer>());
    }

    [Theory]
    [InlineData(null, "Descent:StoragePath = \"\": Descent:Storage = \"local\" needs a folder, given as an absolute path")]
    [InlineData("runs/state", "Descent:StoragePath = \"runs/state\": Descent:Storage = \"local\" needs a folder, given as an absolute path")]
    [InlineData("/etc/hostname", "Descent:StoragePath = \"/etc/hostname\": is a file; local storage needs a folder (created when missing)")]
    public void Local_storage_needs_an_absolute_folder(string? path, string problem)
    {
        Assert.Equal([problem], Problems(Bind(new() { ["Descent:Storage"] = "local", ["Descent:StoragePath"] = path })));
        // A folder that does not exist yet is made when the silo starts; other storage ignores the setting.
        Assert.Empty(Problems(Bind(new() { ["Descent:Storage"] = "local", ["Descent:StoragePath"] = "/no/such/folder/yet" })));
        Assert.Empty(Problems(Bind(new() { ["Descent:Storage"] = "memory", ["Descent:StoragePath"] = path })));
    }

    [Fact]
    public void Reminders_are_kept_in_memory_by_default()
    {
        using var silo = Silo([]);
        Assert.NotNull(silo.Services.GetService<Orleans.IReminderTable>());
    }

    [Fact]
    public void Localhost_clustering_listens_advertises_and_finds_its_primary_as_set()
    {
        using var alone = Silo(new() { ["Descent:SiloPort"] = "12001", ["Descent:GatewayPort"] = "12002", ["Descent:ClusterId"] = "c", ["Descent:ServiceId"] = "s" });
        var endpoints = alone.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal((IPAddress.Loopback, 12001, 12002), (endpoints.AdvertisedIPAddress, endpoints.SiloPort, endpoints.GatewayPort));
        Assert.Equal((new IPEndPoint(IPAddress.Loopback, 12001), new IPEndPoint(IPAddress.Loopback, 12002)),
            (endpoints.SiloListeningEndpoint, endpoints.GatewayListeningEndpoint));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 12001), alone.Services.GetRequiredService<IOptions<DevelopmentClusterMembershipOptions>>().Value.PrimarySiloEndpoint);
        var cluster = alone.Services.GetRequiredService<IOptions<ClusterOptions>>().Value;
        Assert.Equal(("c", "s"), (cluster.ClusterId, cluster.ServiceId));

        using var second = Silo(new() { ["Descent:SiloPort"] = "12003", ["Descent:PrimarySiloPort"] = "12001", ["Descent:ListenOnAllInterfaces"] = "true" });
        endpoints = second.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal(IPAddress.Loopback, endpoints.AdvertisedIPAddress);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 12003), endpoints.SiloListeningEndpoint);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 30000), endpoints.GatewayListeningEndpoint);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 12001), second.Services.GetRequiredService<IOptions<DevelopmentClusterMembershipOptions>>().Value.PrimarySiloEndpoint);
    }

    [Fact]
    public void Redis_clustering_storage_and_reminders_use_the_one_redis_and_the_versioned_state_format()
    {
        using var silo = Silo(new()
        {
            ["Descent:Clustering"] = "redis", ["Descent:Storage"] = "redis", ["Descent:Reminders"] = "redis",
            ["Descent:Redis"] = "redis://:pw@10.1.2.3:6390", ["Descent:AdvertisedAddress"] = "127.0.0.7", ["Descent:SiloPort"] = "12011",
        });
        Assert.Empty(silo.SettingsProblems());
        var storage = silo.Services.GetRequiredService<IOptionsMonitor<Orleans.Persistence.RedisStorageOptions>>().Get(SweepStorage.Name);
        Assert.IsType<StateSerializer>(storage.GrainStorageSerializer);
        var clustering = silo.Services.GetRequiredService<IOptions<Orleans.Clustering.Redis.RedisClusteringOptions>>().Value;
        var reminders = silo.Services.GetRequiredService<IOptions<RedisReminderTableOptions>>().Value;
        foreach (var redis in new[] { storage.ConfigurationOptions!, clustering.ConfigurationOptions!, reminders.ConfigurationOptions! })
        {
            Assert.Equal("10.1.2.3:6390", RedisAddress.Describe(redis));
            Assert.Equal("pw", redis.Password);
            Assert.False(redis.AbortOnConnectFail); // a Redis that restarts is waited for
        }
        // Listens where it advertises (several silos share ports on one machine's 127.0.0.x).
        var endpoints = silo.Services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal(IPAddress.Parse("127.0.0.7"), endpoints.AdvertisedIPAddress);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.7"), 12011), endpoints.SiloListeningEndpoint);
    }

    [Fact]
    public void Membership_gets_descents_defaults_and_any_orleans_option_of_the_section()
    {
        using var defaults = Silo([]);
        var o = defaults.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
        Assert.Equal((TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), 3, 2, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(10)),
            (o.ProbeTimeout, o.MaxProbeTimeout, o.NumMissedProbesLimit, o.NumVotesForDeathDeclaration, o.IAmAliveTablePublishTimeout, o.TableRefreshTimeout));
        using var set = Silo(new() { ["Descent:Membership:ProbeTimeout"] = "00:00:05", ["Descent:Membership:NumProbedSilos"] = "4" });
        o = set.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
        Assert.Equal((TimeSpan.FromSeconds(5), 4), (o.ProbeTimeout, o.NumProbedSilos));
    }

    [Fact]
    public void Device_and_tracing_settings_reach_the_grains_options()
    {
        using var silo = Silo(new()
        {
            ["Descent:Devices:CpuSlots"] = "3", ["Descent:Devices:TrialsPerDevice"] = "2", ["Descent:Devices:UseCuda"] = "false",
            ["Descent:Tracing:FirstSteps"] = "4", ["Descent:Tracing:EveryStep"] = "7",
        });
        var devices = silo.Services.GetRequiredService<IOptions<DeviceOptions>>().Value;
        Assert.Equal(((int?)3, 2, false), (devices.CpuSlots, devices.TrialsPerDevice, devices.UseCuda));
        var tracing = silo.Services.GetRequiredService<IOptions<TracingOptions>>().Value;
        Assert.Equal((4, 7), (tracing.FirstSteps, tracing.EveryStep));
        Assert.Equal(TimeSpan.FromSeconds(60), silo.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    }
}
