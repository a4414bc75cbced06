using System.Net;
using Descent.Grains;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace Descent.Silo;

public static class SiloHosting
{
    /// <summary>How long a stopping silo waits for its running trials to hand themselves back (and its spans to be
    /// flushed) before the host gives up: a pod's <c>terminationGracePeriodSeconds</c> must be longer.</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Makes this host a Descent silo as its configuration's section "Descent" describes
    /// (<see cref="DescentSiloOptions"/>, checked by <see cref="DescentSiloOptionsValidator"/> when the host
    /// starts). Used by descent-silo and by the client's embedded mode, which layers its own settings on top.</summary>
    public static IHostApplicationBuilder AddDescentSilo(this IHostApplicationBuilder builder) =>
        builder.AddDescentSilo(Environment.GetEnvironmentVariable);

    /// <summary>As <see cref="AddDescentSilo(IHostApplicationBuilder)"/>, reading the variables that say whether
    /// this process runs in a Kubernetes pod (<see cref="KubernetesHosting.Decide"/>) through
    /// <paramref name="environment"/>, and whether the pod's files exist (its service account token) through
    /// <paramref name="fileExists"/> (tests give a pod's variables and files without changing the process's).</summary>
    public static IHostApplicationBuilder AddDescentSilo(this IHostApplicationBuilder builder, Func<string, string?> environment,
        Func<string, bool>? fileExists = null)
    {
        builder.Services.AddOptions<DescentSiloOptions>().BindConfiguration(DescentSiloOptions.Section).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DescentSiloOptions>, DescentSiloOptionsValidator>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DescentSiloOptions>, KubernetesHosting.Validator>(
            sp => new KubernetesHosting.Validator(sp.GetRequiredService<IConfiguration>(), environment, fileExists)));
        // In a pod (and only there): Orleans' Kubernetes hosting; its problems are reported by the validator above.
        var pod = KubernetesHosting.Decide(builder.Configuration, environment, fileExists).Pod;

        // Running trials get this long to hand themselves back when the silo is asked to stop.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        // Whether this silo is in the membership table it reads (shared clustering), and the bound on its stop.
        builder.Services.AddSingleton(sp => new MembershipWatch(sp.GetRequiredService<IOptions<DescentSiloOptions>>().Value.Membership.LostAfter));
        builder.Services.AddSingleton<StopDeadline>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StopDeadline>());
        // Before the silo's own hosted service: the probes answer (503) while the silo joins.
        SiloHealth.AddTo(builder.Services);
        // Which services to add is decided now, from the keys the options bind; a value that does not bind is
        // reported when the options are read.
        var section = builder.Configuration.GetSection(DescentSiloOptions.Section);
        var defaults = new DescentSiloOptions();
        var exportMetrics = bool.TryParse(section[nameof(defaults.ExportMetrics)], out var export) ? export : defaults.ExportMetrics;
        builder.Services.AddSiloTelemetry(exportMetrics);
        builder.UseOrleans(silo =>
        {
            silo.Services.AddOptions<ClusterOptions>().Configure<IOptions<DescentSiloOptions>>((o, settings) =>
                (o.ClusterId, o.ServiceId) = pod is null ? (settings.Value.ClusterId, settings.Value.ServiceId) : (pod.ClusterId, pod.ServiceId));
            silo.Services.AddOptions<EndpointOptions>().Configure<IOptions<DescentSiloOptions>>((o, settings) =>
            {
                var s = settings.Value;
                (o.SiloPort, o.GatewayPort) = (s.SiloPort, s.GatewayPort);
                o.AdvertisedIPAddress = SiloAddressing.Advertised(s.AdvertisedAddress ?? pod?.Address.ToString(), s.Clustering == "localhost");
                // Listen where the silo is reached: its advertised address (so silos of one machine may share ports
                // on 127.0.0.x), or every interface.
                var listen = s.ListenOnAllInterfaces ? IPAddress.Any : o.AdvertisedIPAddress;
                o.SiloListeningEndpoint = new IPEndPoint(listen, s.SiloPort);
                o.GatewayListeningEndpoint = s.GatewayPort == 0 ? null : new IPEndPoint(listen, s.GatewayPort);
            });
            // Membership: Descent's defaults (fast detection of lost silos), then anything else the section sets.
            silo.Services.AddOptions<ClusterMembershipOptions>()
                .Configure<IOptions<DescentSiloOptions>>((o, settings) => settings.Value.Membership.ApplyTo(o))
                .Bind(section.GetSection(nameof(defaults.Membership)));
            // Trace context flows with grain calls (the trial spans' parent, the sweep span, is passed explicitly).
            silo.AddActivityPropagation();
            SiloProviders.Clustering.AddTo(silo, builder.Configuration, defaults.Clustering);
            SiloProviders.Storage.AddTo(silo, builder.Configuration, defaults.Storage);
            SiloProviders.Reminders.AddTo(silo, builder.Configuration, defaults.Reminders);
            silo.AddDescent(section);
            silo.AddDescentTls();
            silo.Services.AddSingleton(sp => SiloSetup.Storage(sp.GetRequiredService<IOptions<DescentSiloOptions>>().Value));
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloSetup.Announce>();
            // Orleans' snapshot never notices that a shared table lost this silo's row; a read of the table does.
            if ((section[nameof(defaults.Clustering)] ?? defaults.Clustering) != "localhost")
                silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, MembershipGuard>();
            if (pod is not null) KubernetesHosting.AddTo(silo);
        });
        return builder;
    }

    /// <summary>Every problem with the silo's settings, worded by <see cref="DescentSiloOptionsValidator"/> (or by
    /// the configuration binder for a value of the wrong type), or none; with <c>Descent:Devices:Gpus</c> set, the
    /// devices are discovered now (<see cref="Descent.Grains.Devices.DevicePlan"/>), and a health port that cannot be
    /// listened on is named. Lets a host refuse bad settings before it
    /// starts, where a failed start would be logged with a stack trace.</summary>
    public static IReadOnlyList<string> SettingsProblems(this IHost host)
    {
        try
        {
            var settings = host.Services.GetRequiredService<IOptions<DescentSiloOptions>>().Value;
            // What only this machine can tell, checked now rather than by a failed start (which the host logs with
            // its stack trace): the GPUs this process sees, and whether the health port is free.
            if (settings.Devices.Gpus is not null) _ = host.Services.GetRequiredService<Descent.Grains.Devices.DeviceInventory>();
            if (SiloHealth.PortProblem(host.Services) is { } port) return [port];
            return [];
        }
        catch (Descent.Grains.Devices.DeviceSettingsException e)
        {
            return [e.Message];
        }
        catch (OptionsValidationException e)
        {
            return [.. e.Failures];
        }
        catch (InvalidOperationException e) when (e.InnerException is not null)
        {
            // The binder names the key, the value and the type it expected (the converter's error inside).
            return [e.Message];
        }
    }
}

/// <summary>A silo's Redis that cannot be reached when it starts.</summary>
public static class RedisReach
{
    /// <summary>Null when the silo uses no Redis (<c>Descent:Clustering</c>, <c>Storage</c> and <c>Reminders</c> are
    /// not <c>redis</c>) or its <c>Descent:Redis</c> answers, else one line naming the setting and the address
    /// (<see cref="RedisAddress.Unreachable"/>). Checked before the host starts: Orleans' Redis providers otherwise
    /// retry for many seconds and end the process with an unhandled exception.</summary>
    public static async Task<string?> Problem(IServiceProvider services, CancellationToken cancellation = default)
    {
        var settings = services.GetRequiredService<IOptions<DescentSiloOptions>>().Value;
        if (!new[] { settings.Clustering, settings.Storage, settings.Reminders }.Contains("redis") || settings.Redis is not { Length: > 0 } redis) return null;
        var source = $"{DescentSiloOptions.Section}:{nameof(DescentSiloOptions.Redis)}";
        return await RedisAddress.Unreachable(RedisAddress.Parse(redis, source), source, cancellation);
    }

    /// <summary>The <see cref="StackExchange.Redis.RedisConnectionException"/> behind <paramref name="failure"/> (Redis
    /// lost between the check and the start), or null.</summary>
    public static StackExchange.Redis.RedisConnectionException? Of(Exception? failure) =>
        (StackExchange.Redis.RedisConnectionException?)Failures.Find(failure, e => e is StackExchange.Redis.RedisConnectionException);
}

/// <summary>The cause a failed start wrapped: Orleans' lifecycle and the host wrap what a participant threw.</summary>
static class Failures
{
    /// <summary>The first exception in <paramref name="failure"/>, its inner exceptions and those of any
    /// <see cref="AggregateException"/> within, that <paramref name="match"/> accepts; null when none does.</summary>
    public static Exception? Find(Exception? failure, Func<Exception, bool> match) => failure switch
    {
        null => null,
        _ when match(failure) => failure,
        AggregateException all => all.InnerExceptions.Select(e => Find(e, match)).FirstOrDefault(e => e is not null),
        _ => Find(failure.InnerException, match),
    };
}

/// <summary>Why a silo's local store could not be opened, from the exception its failed start threw.</summary>
public static class StoreRefusals
{
    /// <summary>The local store's refusal (<see cref="StoreLockedException"/>: another process holds the folder;
    /// <see cref="StoreFormatException"/>: a store this version cannot read; <see cref="WriteFailedException"/>: its
    /// folder or file cannot be written) behind <paramref name="failure"/>, which Orleans' lifecycle wraps; null when
    /// the start failed for another reason.</summary>
    public static IOException? Of(Exception? failure) =>
        (IOException?)Failures.Find(failure, e => e is StoreLockedException or StoreFormatException or WriteFailedException);
}

/// <summary>Why a silo refused to start for a setting only its start can check, from the exception its failed start
/// threw.</summary>
public static class StartRefusals
{
    /// <summary>The <see cref="Descent.Grains.Devices.DeviceSettingsException"/> (the devices this silo sees differ from
    /// <c>Descent:Devices:Gpus</c>) or <see cref="HealthEndpointException"/> (the health port) behind
    /// <paramref name="failure"/>; null when the start failed for another reason.</summary>
    public static Exception? Of(Exception? failure) =>
        Failures.Find(failure, e => e is Descent.Grains.Devices.DeviceSettingsException or HealthEndpointException);
}

/// <summary>Settings the silo cannot start with; the message lists every problem, one per line.</summary>
public sealed class SiloSettingsException(IReadOnlyList<string> problems) : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
