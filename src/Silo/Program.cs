using Descent.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// descent-silo: one Orleans silo of a Descent cluster. Configuration: appsettings.json, section "Descent",
// or environment variables (DESCENT__CLUSTERING, DESCENT__DEVICES__CPUSLOTS, ...), or --Descent:Key=value.
// appsettings.json is read from the program's folder, wherever it is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddDescentSilo();
using var host = builder.Build();
// Bad settings: a line each and exit code 2, before anything starts.
var problems = host.SettingsProblems();
// A port a live silo listens on: refused now, since a second silo there would have the cluster declare the first dead.
if (problems.Count == 0) problems = SiloAddressing.EndpointsInUse(host.Services);
if (problems.Count > 0)
{
    foreach (var problem in problems) Console.Error.WriteLine($"descent-silo: {problem}");
    return 2;
}
// A Redis that does not answer: a line naming Descent:Redis and its address, exit code 1 (the settings are right).
if (await RedisReach.Problem(host.Services) is { } unreachable)
{
    Console.Error.WriteLine($"descent-silo: {unreachable}");
    return 1;
}
// A stop that overruns its bound ends the process with one line (a silo lost from its cluster gets 5 s).
var deadline = host.Services.GetRequiredService<StopDeadline>();
deadline.Enforce();
// A local store that can no longer be written (disk full, folder removed): the silo stops with its line, exit code 1.
if (host.Services.GetKeyedService<Orleans.Storage.IGrainStorage>(Descent.Grains.Sweeps.SweepStorage.Name) is LocalGrainStorage store)
    _ = store.Failed.ContinueWith(failed => deadline.StopBecause($"Descent:StoragePath: {failed.Result.Message}; the store keeps what it had written"),
        TaskContinuationOptions.OnlyOnRanToCompletion);
try
{
    await host.RunAsync();
    if (deadline.Reason is { } lost)
    {
        deadline.Say(lost);
        return 1;
    }
}
catch (Exception e) when (StoreRefusals.Of(e) is WriteFailedException failed)
{
    // The store's folder cannot be written (read-only, full, no permission): the environment, exit code 1.
    Console.Error.WriteLine($"descent-silo: Descent:StoragePath: {failed.Message}");
    return 1;
}
catch (Exception e) when (StoreRefusals.Of(e) is { } refusal)
{
    // Another process holds the local store's folder, or it holds a log of another format: a line, exit code 2.
    Console.Error.WriteLine($"descent-silo: Descent:StoragePath: {refusal.Message}");
    return 2;
}
catch (Exception e) when (StartRefusals.Of(e) is { } refusal)
{
    // A device setting the silo cannot meet (Descent:Devices:Gpus), or a health port it cannot listen on.
    Console.Error.WriteLine($"descent-silo: {refusal.Message}");
    return 2;
}
catch (Exception e) when (RedisReach.Of(e) is { } redis)
{
    // Redis lost between the check above and the start: its first line (addresses, never a password), exit code 1.
    Console.Error.WriteLine($"descent-silo: Descent:Redis: cannot reach Redis: {redis.Message.Split('\n')[0]}");
    return 1;
}
return 0;
