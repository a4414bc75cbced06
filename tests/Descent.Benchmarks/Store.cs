using System.Diagnostics;
using Descent.Silo;
using static Bench;

/// <summary>The local grain store (<see cref="GrainStateDatabase"/>, the embedded silo's SQLite database): what a durable
/// write costs, alone and with concurrent writers sharing commits (group commit). States of 300 bytes and 4 kB (a trial
/// grain's state before and after its result), each write completing once its commit is on the disk. Printed beside the
/// median measured on the same machine for the append-only log it replaced (format version 1).</summary>
static class Store
{
    // Median ms per write of the append-only log (GrainStateLog, removed), 300-byte states.
    static readonly Dictionary<(int Size, int Writers), double> Log = new() { [(300, 1)] = 0.14, [(300, 16)] = 0.36 };

    public static async Task Run(int writes)
    {
        var folder = Directory.CreateTempSubdirectory("descent-store-");
        using var memory = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=:memory:");
        memory.Open();
        Console.WriteLine($"Local grain store (SQLite {memory.ServerVersion}, WAL, synchronous=FULL): "
            + $"{writes} writes per row, each completing after its commit's fsync, {Environment.ProcessorCount} cores, in {folder.FullName}");
        var rows = new List<string[]>();
        try
        {
            foreach (var size in new[] { 300, 4000 })
            foreach (var writers in new[] { 1, 4, 16 })
            {
                var path = Path.Combine(folder.FullName, $"{size}-{writers}");
                using var store = GrainStateDatabase.Open(path);
                var data = new byte[size];
                var latencies = new double[writes];
                var clock = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
                {
                    string? etag = null;
                    for (var i = w; i < writes; i += writers)
                    {
                        var start = Stopwatch.GetTimestamp();
                        etag = await store.WriteAsync("trial", $"{w}", etag, data);
                        latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    }
                })));
                clock.Stop();
                rows.Add([$"{size} B", $"{writers}", F(writes / clock.Elapsed.TotalSeconds, 0), F(Median(latencies), 3),
                    F(latencies.Order().ElementAt((int)(0.99 * (writes - 1))), 3), F((double)store.Commits / writes, 3),
                    Log.TryGetValue((size, writers), out var before) ? F(before, 2) : ""]);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
        Table(["state", "writers", "writes/s", "median ms", "p99 ms", "commits per write", "log median ms"], rows);
    }
}
