using System.Diagnostics;
using System.Text.Json;

/// <summary>How the embedded silo scales with the number of trials: the real <c>descent-client sweep</c> (embedded
/// silo, <c>--slots 1</c>) on trivial trials (synthetic 100 x 4, one hidden layer, sgd, one step), one process per
/// size. Prints the wall time of each size and the cost of one more trial between sizes, beside the figures measured
/// before the orchestration was redesigned (issue 10).</summary>
static class Scaling
{
    // Measured through descent-client sweep on the same machine before the redesign.
    static readonly Dictionary<int, double> Before = new() { [500] = 6.9, [2000] = 19.7, [4000] = 52, [10000] = 332 };

    /// <summary>Seconds per trial: the slope of the least-squares line through (trials, seconds).</summary>
    static double Slope(IReadOnlyList<(int Trials, double Seconds)> points)
    {
        var (mx, my) = (points.Average(p => (double)p.Trials), points.Average(p => p.Seconds));
        return points.Sum(p => (p.Trials - mx) * (p.Seconds - my)) / points.Sum(p => (p.Trials - mx) * (p.Trials - mx));
    }

    public static async Task<int> Run(IReadOnlyList<int> sizes)
    {
        var client = Path.Combine(AppContext.BaseDirectory, "descent-client.dll");
        var work = Directory.CreateTempSubdirectory("descent-scaling-");
        Console.WriteLine($"Scaling: trivial trials through descent-client sweep (embedded silo, --slots 1), {Environment.ProcessorCount} cores");
        var rows = new List<string[]>();
        var measured = new List<(int Trials, double Seconds)>();
        try
        {
            foreach (var n in sizes)
            {
                var grid = Path.Combine(work.FullName, $"grid-{n}.json");
                File.WriteAllText(grid, JsonSerializer.Serialize(new
                {
                    name = $"scaling-{n}",
                    task = new { kind = "synthetic", n_row = 100, dim_in = 4, dim_hidden = 4, n_layers = 1, seed = 0 },
                    budget = new { steps = 1 },
                    repeats = n,
                    parameters = new { optimizer = new { value = "sgd" }, lr = new { value = 0.01 } },
                }));
                var info = new ProcessStartInfo("dotnet", [client, "sweep", grid, "--slots", "1", "--out", Path.Combine(work.FullName, "runs"), "--top", "1"])
                {
                    RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                };
                var clock = Stopwatch.StartNew();
                using var process = Process.Start(info)!;
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                clock.Stop();
                if (process.ExitCode != 0)
                {
                    Console.Error.WriteLine($"descent-client exited {process.ExitCode} for {n} trials:\n{await stderr}");
                    return 1;
                }
                measured.Add((n, clock.Elapsed.TotalSeconds));
                var marginal = measured.Count > 1
                    ? Bench.F((measured[^1].Seconds - measured[^2].Seconds) / (measured[^1].Trials - measured[^2].Trials) * 1000, 2)
                    : "";
                var before = Before.TryGetValue(n, out var b) ? Bench.F(b, 1) : "";
                var beforeMarginal = measured.Count > 1 && Before.TryGetValue(measured[^2].Trials, out var b0) && Before.TryGetValue(n, out var b1)
                    ? Bench.F((b1 - b0) / (n - measured[^2].Trials) * 1000, 2) : "";
                rows.Add([$"{n}", Bench.F(clock.Elapsed.TotalSeconds, 1), before, marginal, beforeMarginal]);
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
        Bench.Table(["trials", "wall s", "before s", "ms per extra trial", "before"], rows);
        if (measured.Count > 1)
        {
            var before = measured.Where(m => Before.ContainsKey(m.Trials)).Select(m => (m.Trials, Before[m.Trials])).ToList();
            Console.WriteLine($"  one more trial, slope of a least-squares line through every size: {Bench.F(Slope(measured) * 1000, 2)} ms"
                + (before.Count > 1 ? $" (before: {Bench.F(Slope(before) * 1000, 2)} ms)" : ""));
        }
        Console.WriteLine("  goals: 10,000 trials under 40 s; one more trial under 5 ms, flat from 500 to 10,000 (wall time includes the client's start, ~2 s)");
        Console.WriteLine();
        return 0;
    }
}
