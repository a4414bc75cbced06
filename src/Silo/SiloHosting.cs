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
    /// <summary>Makes this host a Descent silo as its configuration's section "Descent" describes
    /// (<see cref="DescentSiloOptions"/>, checked by <see cref="DescentSiloOptionsValidator"/> when the host
    /// starts). Used by descent-silo and by the client's embedded mode, which layers its own settings on top.</summary>
    public static IHostApplicationBuilder AddDescentSilo(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DescentSiloOptions>().BindConfiguration(DescentSiloOptions.Section).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DescentSiloOptions>, DescentSiloOptionsValidator>());

        // Running trials get this long to hand themselves back when the silo is asked to stop.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        // Which services to add is decided now, from the keys the options bind; a value that does not bind is
        // reported when the options are read.
        var section = builder.Configuration.GetSection(DescentSiloOptions.Section);
        var defaults = new DescentSiloOptions();
        var exportMetrics = bool.TryParse(section[nameof(defaults.ExportMetrics)], out var export) ? export : defaults.ExportMetrics;
        builder.Services.AddSiloTelemetry(exportMetrics);
        builder.UseOrleans(silo =>
        {
            silo.Services.AddOptions<ClusterOptions>().Configure<IOptions<DescentSiloOptions>>((o, settings) =>
                (o.ClusterId, o.ServiceId) = (settings.Value.ClusterId, settings.Value.ServiceId));
            silo.Services.AddOptions<EndpointOptions>().Configure<IOptions<DescentSiloOptions>>((o, settings) =>
            {
                var s = settings.Value;
                (o.SiloPort, o.GatewayPort) = (s.SiloPort, s.GatewayPort);
                o.AdvertisedIPAddress = SiloAddressing.Advertised(s.AdvertisedAddress, s.Clustering == "localhost");
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
        });
        return builder;
    }

    /// <summary>Every problem with the silo's settings, worded by <see cref="DescentSiloOptionsValidator"/> (or by
    /// the configuration binder for a value of the wrong type), or none. Lets a host refuse bad settings before it
    /// starts, where a failed start would be logged with a stack trace.</summary>
    public static IReadOnlyList<string> SettingsProblems(this IHost host)
    {
        try
        {
            _ = host.Services.GetRequiredService<IOptions<DescentSiloOptions>>().Value;
            return [];
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

/// <summary>Why a silo's local store could not be opened, from the exception its failed start threw.</summary>
public static class StoreRefusals
{
    /// <summary>The local store's refusal (<see cref="StoreLockedException"/>: another process holds the folder;
    /// <see cref="StoreFormatException"/>: a store this version cannot read) behind <paramref name="failure"/>, which
    /// Orleans' lifecycle wraps; null when the start failed for another reason.</summary>
    public static IOException? Of(Exception? failure) => failure switch
    {
        null => null,
        StoreLockedException or StoreFormatException => (IOException)failure,
        AggregateException all => all.InnerExceptions.Select(Of).FirstOrDefault(e => e is not null),
        _ => Of(failure.InnerException),
    };
}

/// <summary>Settings the silo cannot start with; the message lists every problem, one per line.</summary>
public sealed class SiloSettingsException(IReadOnlyList<string> problems) : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
