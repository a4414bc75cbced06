using Descent.Silo;
using Microsoft.Extensions.Hosting;

// descent-silo: one Orleans silo of a Descent cluster. Configuration: appsettings.json, section "Descent",
// or environment variables (DESCENT__CLUSTERING, DESCENT__DEVICES__CPUSLOTS, ...), or --Descent:Key=value.
var builder = Host.CreateApplicationBuilder(args);
try
{
    builder.AddDescentSilo(SiloSettings.From(builder.Configuration));
}
catch (SiloSettingsException e)
{
    Console.Error.WriteLine($"descent-silo: {e.Message}");
    return 2;
}
using var host = builder.Build();
await host.RunAsync();
return 0;
