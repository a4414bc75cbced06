using System.Diagnostics;
using System.Globalization;
using Descent.Sweeps;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Client;

/// <summary>A grid's size is counted, not expanded; what is expanded is bounded and stops on request (Ctrl-C).</summary>
public class GridCountingTests
{
    static string Values(int count, Func<int, string> value) => string.Join(", ", Enumerable.Range(0, count).Select(value));

    static string Real(int i) => ((i + 1) * 1e-6).ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A synthetic task whose rows and seed are swept.</summary>
    const string Open = """{"kind": "synthetic", "dim_in": 3, "dim_hidden": 4, "n_layers": 1}""";

    /// <summary>1,000 learning rates x 1,000 row counts x 1,000 seeds.</summary>
    static readonly string Billion = Grid($"\"optimizer\": [\"sgd\"], \"lr\": [{Values(1000, Real)}], "
        + $"\"n_row\": [{Values(1000, i => $"{i + 1}")}], \"seed\": [{Values(1000, i => $"{i}")}]", task: Open);

    /// <summary>Runs <paramref name="load"/> on its own thread; fails if it has not ended within <paramref name="limit"/>
    /// (the thread is left to a cancelled token, so that a regression does not hang the suite).</summary>
    static T Within<T>(TimeSpan limit, Func<CancellationToken, T> load)
    {
        using var abandon = new CancellationTokenSource();
        var task = Task.Run(() => load(abandon.Token));
        if (!task.Wait(limit))
        {
            abandon.Cancel();
            Assert.Fail($"still running after {limit.TotalSeconds} s");
        }
        return task.Result;
    }

    [Fact]
    public void A_grid_of_a_billion_combinations_is_counted_in_milliseconds_and_refused_whatever_max_trials_says()
    {
        var path = Write(Billion);
        var clock = Stopwatch.StartNew();
        var problem = Within(TimeSpan.FromSeconds(20), token =>
            Assert.Single(Assert.Throws<GridException>(() => GridFile.Load(path, int.MaxValue, token)).Problems));
        Assert.Equal("parameters", problem.Field);
        Assert.Contains("expands to 1,000,000,000 trials", problem.Message);
        Assert.Contains($"past the {GridFile.MaxPlannedTrials:N0} a sweep can plan whatever --max-trials says", problem.Message);
        // The file (23 KB, 3,000 values, each checked) is read and the product computed: no combination is made.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");

        // Under the cap given, the cap given is named.
        Assert.Contains("past the cap of 10,000", Assert.Single(Problems(Billion)).Message);
    }

    [Fact]
    public void A_count_past_two_to_the_64_is_exact()
    {
        // 1,001^7 combinations (past 2^64 = 1.8e19, and 2^53, where doubles stop counting in ones): exact, not rounded.
        string Whole(int first) => Values(1001, i => $"{i + first}");
        var grid = Grid($"\"optimizer\": [\"keep-stepping\"], \"lr\": [{Values(1001, Real)}], \"max_steps\": [{Whole(1)}], \"n_row\": [{Whole(1)}], "
            + $"\"seed\": [{Whole(0)}], \"dim_in\": [{Whole(1)}], \"dim_hidden\": [{Whole(1)}], \"n_layers\": [{Whole(1)}]",
            task: """{"kind": "synthetic"}""");
        Assert.Contains("expands to 1,007,021,035,035,021,007,001 trials", Assert.Single(Problems(grid, int.MaxValue)).Message);
    }

    [Fact]
    public void A_list_of_100_000_values_is_read_in_seconds()
    {
        // Each value is checked and duplicates dropped: compared pairwise (5e9 comparisons), they took minutes.
        var path = Write(Grid($"\"optimizer\": [\"sgd\"], \"lr\": [{Values(100_000, Real)}, 1e-6]"));
        var problem = Within(TimeSpan.FromSeconds(15), token =>
            Assert.Single(Assert.Throws<GridException>(() => GridFile.Load(path, 99_999, token)).Problems));
        // The repeated 1e-6 is one value.
        Assert.Contains("expands to 100,000 trials, past the cap of 99,999", problem.Message);
    }

    [Fact]
    public void Expansion_stops_within_a_trial_of_a_cancelled_token()
    {
        // 100,000 trials: seconds of expansion, stopped 300 ms in.
        var path = Write(Grid($"\"optimizer\": [\"sgd\"], \"lr\": [{Values(1000, Real)}], \"seed\": [{Values(100, i => $"{i}")}]",
            task: """{"kind": "synthetic", "n_row": 50, "dim_in": 3, "dim_hidden": 4, "n_layers": 1}"""));
        using var stop = new CancellationTokenSource();
        long cancelledAt = 0;
        using var _ = stop.Token.Register(() => cancelledAt = Stopwatch.GetTimestamp());
        // From a thread of its own: CancelAfter's timer runs on the thread pool, which the suite's parallel tests can
        // keep busy past the whole expansion (seen in a clean-clone run: the load ended uncancelled).
        var canceller = new Thread(() =>
        {
            Thread.Sleep(300);
            stop.Cancel();
        }) { IsBackground = true };
        canceller.Start();
        Within(TimeSpan.FromSeconds(20), _ => Assert.ThrowsAny<OperationCanceledException>(() => GridFile.Load(path, GridFile.MaxPlannedTrials, stop.Token)));
        var after = Stopwatch.GetElapsedTime(cancelledAt);
        Assert.True(after < TimeSpan.FromSeconds(1), $"stopped {after} after the request");

        // A token cancelled before: nothing is read.
        Assert.ThrowsAny<OperationCanceledException>(() => GridFile.Load(path, GridFile.MaxPlannedTrials, new CancellationToken(canceled: true)));
    }
}
