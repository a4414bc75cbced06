using Descent.Silo;
using Microsoft.Extensions.Hosting;

// descent-silo: one Orleans silo of a Descent cluster. Configuration: appsettings.json, section "Descent",
// or environment variables (DESCENT__CLUSTERING, DESCENT__DEVICES__CPUSLOTS, ...), or --Descent:Key=value.
var builder = Host.CreateApplicationBuilder(args);
builder.AddDescentSilo();
using var host = builder.Build();
// Bad settings: a line each and exit code 2, before anything starts.
var problems = host.SettingsProblems();
if (problems.Count > 0)
{
    foreach (var problem in problems) Console.Error.WriteLine($"descent-silo: {problem}");
    return 2;
}
await host.RunAsync();
return 0;
