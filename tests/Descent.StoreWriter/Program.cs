using System.Globalization;
using System.Text;
using Descent.Silo;

// descent-store-writer FOLDER WRITERS: opens the grain store in FOLDER and has WRITERS concurrent writers each write
// their own state (state name "writer", id "w<i>", value "<n>:" and some padding, n = 1, 2, ...) until the process is killed, printing
// "<i> <n>" on standard output once write n of writer i has completed. GrainStateDatabaseTests kills it with SIGKILL and
// checks that every printed write is in the store.
if (args.Length != 2 || !int.TryParse(args[1], CultureInfo.InvariantCulture, out var writers) || writers < 1)
{
    Console.Error.WriteLine("usage: descent-store-writer FOLDER WRITERS");
    return 2;
}
using var store = GrainStateDatabase.Open(args[0]);
var output = new Lock();
Console.Out.WriteLine($"open {Environment.ProcessId}");
await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
{
    var id = $"w{w}";
    var etag = store.TryRead("writer", id, out var stored, out _) ? stored : null;
    for (var n = 1L; ; n++)
    {
        etag = await store.WriteAsync("writer", id, etag, Encoding.UTF8.GetBytes($"{n}:{new string('x', (int)(n % 500))}"));
        lock (output) Console.Out.WriteLine($"{w} {n}");
    }
})));
return 0;
