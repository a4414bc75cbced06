using System.Net;
using Descent.Grains.Devices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Descent.Silo;

/// <summary>Section <c>Descent:Health</c>: the HTTP endpoint of the startup, readiness and liveness probes.</summary>
public sealed class HealthSettings
{
    /// <summary>The TCP port of <see cref="SiloHealth.StartupPath"/>, <see cref="SiloHealth.ReadyPath"/> and
    /// <see cref="SiloHealth.LivePath"/>; unset: no endpoint (the default, and always for the client's embedded
    /// silo). It listens where the silo does: the advertised address (a pod's POD_IP), or every interface with
    /// <c>Descent:ListenOnAllInterfaces</c>.</summary>
    public int? Port { get; set; }
}

/// <summary>
/// The silo's health, as Kubernetes probes ask for it, served by Kestrel with Microsoft.Extensions.Diagnostics.HealthChecks
/// on <see cref="HealthSettings.Port"/>: 200 when healthy, 503 otherwise, a line per check in the body.
/// None of the checks waits on a grain or on a training thread: they read flags and Orleans' membership snapshot, so
/// the probes answer while every device trains.
/// </summary>
public static class SiloHealth
{
    /// <summary>Startup probe: 200 once the silo has joined the cluster (its lifecycle reached Active).</summary>
    public const string StartupPath = "/healthz/startup";

    /// <summary>Readiness probe: 200 while the silo is an active member of the cluster (in Orleans' snapshot and, with
    /// shared clustering, in the membership table it reads every 2 s: <see cref="MembershipWatch"/>), has discovered
    /// its devices and is not stopping (a stopping silo hands its trials back and leaves the gateway Service).</summary>
    public const string ReadyPath = "/healthz/ready";

    /// <summary>Liveness probe: 200 unless the cluster has declared this silo dead, or the membership table has not
    /// had it as an active member for <c>Descent:Membership:LostAfter</c> (it stops by itself then, and a restart is
    /// what it needs); it stays 200 while every device trains and while the silo stops gracefully.</summary>
    public const string LivePath = "/healthz/live";

    const string Startup = "startup", Ready = "ready", Live = "live";

    /// <summary>Adds the health checks and, when <see cref="HealthSettings.Port"/> is set, the endpoint serving them.</summary>
    public static void AddTo(IServiceCollection services)
    {
        services.AddSingleton<SiloHealthState>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SiloHealthState>());
        services.AddHealthChecks()
            .AddCheck<JoinedCheck>("joined", tags: [Startup, Ready])
            .AddCheck<DevicesCheck>("devices", tags: [Ready])
            .AddCheck<ServingCheck>("serving", tags: [Ready])
            .AddCheck<AliveCheck>("alive", tags: [Live]);
        services.AddHostedService<HealthEndpoint>();
        // A probe every few seconds: the body says what a check found; the log keeps only what goes wrong with the server.
        services.AddLogging(l => l.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None)
            .AddFilter("Microsoft.AspNetCore", LogLevel.Warning));
    }

    /// <summary>Null when <see cref="HealthSettings.Port"/> is unset or can be listened on now, else the problem naming
    /// the setting, the address and the system's reason (another process holds the port).</summary>
    public static string? PortProblem(IServiceProvider services)
    {
        var settings = services.GetRequiredService<IOptions<DescentSiloOptions>>().Value;
        if (settings.Health.Port is not { } port) return null;
        var address = ListenAddress(settings, services);
        try
        {
            using var listener = new System.Net.Sockets.TcpListener(address, port);
            listener.Start();
            return null;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return $"{DescentSiloOptions.Section}:Health:Port = {port}: cannot listen on {address}:{port} ({e.Message})";
        }
    }

    /// <summary>Where the endpoint listens: every interface with <c>ListenOnAllInterfaces</c>, else the silo's
    /// advertised address (a pod's POD_IP, which the kubelet probes).</summary>
    static IPAddress ListenAddress(DescentSiloOptions settings, IServiceProvider services) => settings.ListenOnAllInterfaces
        ? IPAddress.Any
        : services.GetRequiredService<IOptions<EndpointOptions>>().Value.AdvertisedIPAddress ?? IPAddress.Loopback;

    /// <summary>The silo's progress through its lifecycle, as the checks read it.</summary>
    sealed class SiloHealthState(IServiceProvider services) : ILifecycleParticipant<ISiloLifecycle>
    {
        public volatile bool Joined;
        public volatile bool Stopping;
        public IReadOnlyList<string>? Devices;

        public ILocalSiloDetails Local => services.GetRequiredService<ILocalSiloDetails>();
        public MembershipWatch Table => services.GetRequiredService<MembershipWatch>();
        public IClusterMembershipService Membership => services.GetRequiredService<IClusterMembershipService>();

        public void Participate(ISiloLifecycle lifecycle) =>
            // After the device worker (Active): ready means its devices are taking trials.
            lifecycle.Subscribe(nameof(SiloHealth), ServiceLifecycleStage.Active + 1, _ =>
            {
                Devices = [.. services.GetRequiredService<DeviceInventory>().Slots.Select(s => s.Name)];
                Joined = true;
                return Task.CompletedTask;
            }, _ =>
            {
                Stopping = true;
                return Task.CompletedTask;
            });

        /// <summary>This silo's status in the membership snapshot Orleans keeps in memory (no call, no grain).</summary>
        public SiloStatus Status => Membership.CurrentSnapshot.GetSiloStatus(Local.SiloAddress);
    }

    sealed class JoinedCheck(SiloHealthState state) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken) =>
            Task.FromResult(state.Joined
                ? HealthCheckResult.Healthy($"joined cluster {state.Local.ClusterId} as {state.Local.SiloAddress}")
                : HealthCheckResult.Unhealthy("starting: not yet a member of the cluster"));
    }

    sealed class DevicesCheck(SiloHealthState state) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken) =>
            Task.FromResult(state.Devices is { Count: > 0 } devices
                ? HealthCheckResult.Healthy($"{devices.Count} device slot(s): {string.Join(", ", devices)}")
                : HealthCheckResult.Unhealthy("devices not discovered yet"));
    }

    sealed class ServingCheck(SiloHealthState state) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
        {
            if (state.Stopping) return Task.FromResult(HealthCheckResult.Unhealthy("stopping: handing running trials back"));
            if (!state.Joined) return Task.FromResult(HealthCheckResult.Unhealthy("starting"));
            var status = state.Status;
            if (status != SiloStatus.Active) return Task.FromResult(HealthCheckResult.Unhealthy($"membership status {status}"));
            // Orleans' snapshot says active even when the table it reads has lost this silo's row.
            return Task.FromResult(state.Table.InTable
                ? HealthCheckResult.Healthy("active")
                : HealthCheckResult.Unhealthy($"not an active member: {state.Table.Why}"));
        }
    }

    sealed class AliveCheck(SiloHealthState state) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
        {
            // Before the silo has an address in the table there is nothing to be declared dead.
            var status = state.Joined || state.Stopping ? state.Status : SiloStatus.None;
            if (state.Table.Lost)
                return Task.FromResult(HealthCheckResult.Unhealthy($"lost from the cluster: {state.Table.Why} (Descent:Membership:LostAfter = {state.Table.LostAfter})"));
            return Task.FromResult(status == SiloStatus.Dead
                ? HealthCheckResult.Unhealthy("the cluster declared this silo dead")
                : HealthCheckResult.Healthy(status == SiloStatus.None ? "running" : $"running, membership status {status}"));
        }
    }

    /// <summary>Kestrel on <see cref="HealthSettings.Port"/>, in a web application of its own (the silo is a generic
    /// host, shared with the client's embedded silo, which serves nothing), answering from this host's
    /// <see cref="HealthCheckService"/>.</summary>
    sealed class HealthEndpoint(IOptions<DescentSiloOptions> settings, IServiceProvider services, ILoggerFactory logs) : IHostedService
    {
        WebApplication? _web;

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            if (settings.Value.Health.Port is not { } port) return;
            var address = ListenAddress(settings.Value, services);
            // An empty builder: no configuration sources (ASPNETCORE_URLS and appsettings.json do not apply), only Kestrel.
            var web = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            web.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(address, port));
            web.Services.AddRouting();
            // The silo's host owns Ctrl-C and SIGTERM: the endpoint answers until the silo has stopped.
            web.Services.AddSingleton<IHostLifetime, OwnedLifetime>();
            web.Services.AddSingleton(services.GetRequiredService<HealthCheckService>());
            web.Services.AddSingleton(logs);
            var app = web.Build();
            foreach (var (path, tag) in new[] { (StartupPath, Startup), (ReadyPath, Ready), (LivePath, Live) })
                app.MapHealthChecks(path, new HealthCheckOptions { Predicate = c => c.Tags.Contains(tag), ResponseWriter = Write });
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                await app.DisposeAsync();
                throw new HealthEndpointException($"{DescentSiloOptions.Section}:Health:Port = {port}: cannot listen on {address}:{port} ({e.Message})", e);
            }
            _web = app;
            logs.CreateLogger(typeof(SiloHealth)).LogInformation("Health probes on http://{Address}:{Port}: {Startup}, {Ready}, {Live}",
                address, port, StartupPath, ReadyPath, LivePath);
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (_web is null) return;
            await _web.StopAsync(cancellationToken);
            await _web.DisposeAsync();
        }

        sealed class OwnedLifetime : IHostLifetime
        {
            public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
            public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        }

        static Task Write(HttpContext context, HealthReport report)
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            var lines = report.Entries.Select(e => $"{e.Key}: {e.Value.Status.ToString().ToLowerInvariant()}: {e.Value.Description}");
            return context.Response.WriteAsync($"{report.Status.ToString().ToLowerInvariant()}\n{string.Join('\n', lines)}\n");
        }
    }
}

/// <summary>The health endpoint cannot listen on its port; the message names <c>Descent:Health:Port</c> and why.</summary>
public sealed class HealthEndpointException(string message, Exception inner) : IOException(message, inner);
