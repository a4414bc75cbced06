using System.Diagnostics;
using Descent.Silo;
using static Bench;

/// <summary>The local grain store (<see cref="GrainStateLog"/>, the embedded silo's): what a durable write costs, alone
/// and with concurrent writers sharing flushes (group commit). States of 300 bytes and 4 kB (a trial grain's state
/// before and after its result), each write completing once its record is on the disk.</summary>
static class Store
{
    public static async Task Run(int writes)
    {
        var folder = Directory.CreateTempSubdirectory("descent-store-");
        Console.WriteLine($"Local grain store: {writes} writes per row, each completing after its fsync, {Environment.ProcessorCount} cores, in {folder.FullName}");
        var rows = new List<string[]>();
        try
        {
            foreach (var size in new[] { 300, 4000 })
            foreach (var writers in new[] { 1, 4, 16 })
            {
                var store = Path.Combine(folder.FullName, $"{size}-{writers}");
                using var log = GrainStateLog.Open(store);
                var data = new byte[size];
                var latencies = new double[writes];
                var clock = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
                {
                    string? etag = null;
                    for (var i = w; i < writes; i += writers)
                    {
                        var start = Stopwatch.GetTimestamp();
                        etag = await log.WriteAsync($"trial/{w}", etag, data);
                        latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    }
                })));
                clock.Stop();
                rows.Add([$"{size} B", $"{writers}", F(writes / clock.Elapsed.TotalSeconds, 0), F(Median(latencies), 3),
                    F(latencies.Order().ElementAt((int)(0.99 * (writes - 1))), 3), F((double)log.Flushes / writes, 3)]);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
        Table(["state", "writers", "writes/s", "median ms", "p99 ms", "flushes per write"], rows);
    }
}
