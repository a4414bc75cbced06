using Descent.Contracts.Sweeps;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Descent.Tests.Sweeps;

[Collection(nameof(SweepClusterTests))]
public class SiloHostTests
{
    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task The_silo_host_runs_a_sweep_for_an_orleans_client()
    {
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        var siloBuilder = Host.CreateApplicationBuilder();
        siloBuilder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Descent:SiloPort"] = $"{siloPort}",
            ["Descent:GatewayPort"] = $"{gatewayPort}",
            ["Descent:Devices:CpuSlots"] = "2",
        });
        siloBuilder.AddDescentSilo();
        using var silo = siloBuilder.Build();
        await silo.StartAsync();

        var clientBuilder = Host.CreateApplicationBuilder();
        clientBuilder.UseOrleansClient(c => c.UseLocalhostClustering(gatewayPort, serviceId: "descent", clusterId: "descent"));
        using var client = clientBuilder.Build();
        await client.StartAsync();
        var grains = client.Services.GetRequiredService<IClusterClient>();

        var trials = SweepCluster.TinyTrials(6);
        var started = await grains.GetGrain<ISweepCoordinatorGrain>("host").Start(new SweepSpec("host", trials, new RankMetric()));
        Assert.Equal(2, started.ClusterDevices);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        SweepSnapshot snapshot;
        do
        {
            await Task.Delay(100);
            snapshot = await grains.GetGrain<ISweepCoordinatorGrain>("host").GetSnapshot();
        } while (snapshot.Status != SweepStatus.Done && DateTime.UtcNow < deadline);
        Assert.Equal(SweepStatus.Done, snapshot.Status);
        Assert.Equal(6, (await grains.GetGrain<ISweepCoordinatorGrain>("host").GetResults()).Count);

        await client.StopAsync();
        await silo.StopAsync();
    }

    [Fact]
    public async Task Bad_settings_name_the_setting_and_the_value()
    {
        IHost Silo(bool hostedServices)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Descent:Clustering"] = "zookeeper", ["Descent:Storage"] = "disk", ["Descent:SiloPort"] = $"{FreePort()}", ["Descent:GatewayPort"] = "70000",
                ["Descent:Devices:CpuSlots"] = "0", ["Descent:Tracing:FirstSteps"] = "-1", ["Descent:Tracing:EveryStep"] = "-5",
            });
            builder.AddDescentSilo();
            if (!hostedServices) builder.Services.RemoveAll<IHostedService>();
            return builder.Build();
        }
        string[] problems =
        [
            "Descent:Clustering = \"zookeeper\": expected localhost or redis",
            "Descent:Storage = \"disk\": expected memory or process or redis or local",
            "Descent:GatewayPort = 70000: expected a port between 1 and 65535, or 0 for no gateway",
            "Descent:Devices:CpuSlots = 0: must be at least 1",
            "Descent:Tracing:FirstSteps = -1: must be 0 or more",
            "Descent:Tracing:EveryStep = -5: must be 0 or more (0: no step spans after the first ones)",
        ];
        using var silo = Silo(hostedServices: true);
        Assert.Equal(problems, silo.SettingsProblems());
        // A host that does not ask first is stopped as it starts, with the same lines...
        Assert.Equal(problems, (await Assert.ThrowsAsync<OptionsValidationException>(() => silo.StartAsync())).Failures);
        // ...also when nothing it starts reads the settings (ValidateOnStart).
        using var bare = Silo(hostedServices: false);
        Assert.Equal(problems, (await Assert.ThrowsAsync<OptionsValidationException>(() => bare.StartAsync())).Failures);
    }
}
