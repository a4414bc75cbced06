using Descent.Contracts.Sweeps;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

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
        siloBuilder.AddDescentSilo(SiloSettings.From(siloBuilder.Configuration));
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
    public void Bad_settings_name_the_setting_and_the_value()
    {
        var settings = new SiloSettings
        {
            Clustering = "zookeeper", Storage = "disk", GatewayPort = 70000, Devices = new() { CpuSlots = 0 },
            Tracing = new() { FirstSteps = -1, EveryStep = -5 },
        };
        var e = Assert.Throws<SiloSettingsException>(() => Host.CreateApplicationBuilder().AddDescentSilo(settings));
        Assert.Contains("Descent:Clustering = \"zookeeper\"", e.Message);
        Assert.Contains("Descent:Storage = \"disk\"", e.Message);
        Assert.Contains("Descent:GatewayPort = 70000", e.Message);
        Assert.Contains("Descent:Devices:CpuSlots = 0", e.Message);
        Assert.Contains("Descent:Tracing:FirstSteps = -1", e.Message);
        Assert.Contains("Descent:Tracing:EveryStep = -5", e.Message);
    }
}
