using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Grains.Sweeps;

[GenerateSerializer, Alias("descent.leaderboard-state")]
public sealed class LeaderboardState
{
    [Id(0)] public RankMetric Metric { get; set; } = new();
    /// <summary>One row per trial id: a retried trial replaces its row.</summary>
    [Id(1)] public Dictionary<string, LeaderboardEntry> Entries { get; set; } = [];
}

/// <summary>
/// Every result of one sweep exactly once: rows keyed by trial id, so a retried trial replaces its earlier row
/// instead of adding one. The leaderboard's own state holds only the rows (it is written whole after every
/// result); each full result, history included, is stored once by its <see cref="TrialResultGrain"/>.
/// </summary>
public sealed class LeaderboardGrain(
    [PersistentState("leaderboard", SweepStorage.Name)] IPersistentState<LeaderboardState> state,
    IGrainFactory grains) : Grain, ILeaderboardGrain
{
    const int ReadConcurrency = 64;

    string Id => this.GetPrimaryKeyString();

    public async Task Open(RankMetric metric)
    {
        if (state.RecordExists && state.State.Metric == metric) return;
        state.State.Metric = metric;
        await state.WriteStateAsync();
    }

    public async Task Record(TrialRecord record)
    {
        await grains.GetGrain<ITrialResultGrain>(TrialGrain.Key(Id, record.TrialId)).Save(record);
        state.State.Entries[record.TrialId] = Summarize(record, state.State.Metric);
        await state.WriteStateAsync();
    }

    public async Task<IReadOnlyList<TrialRecord>> GetResults()
    {
        var ids = state.State.Entries.Keys.Order(StringComparer.Ordinal).ToList();
        var results = new List<TrialRecord>(ids.Count);
        foreach (var batch in ids.Chunk(ReadConcurrency))
        {
            var records = await Task.WhenAll(batch.Select(id => grains.GetGrain<ITrialResultGrain>(TrialGrain.Key(Id, id)).Get()));
            results.AddRange(records.OfType<TrialRecord>());
        }
        return results;
    }

    public async Task<Leaderboard> GetTable(RankMetric? metric = null)
    {
        if (metric is null || metric == state.State.Metric) return Rank(state.State.Metric, state.State.Entries.Values);
        return Rank(metric, await GetResults()); // another metric needs the histories
    }

    public static LeaderboardEntry Summarize(TrialRecord record, RankMetric metric) =>
        new(record.TrialId, record.Spec.Optimizer.ToString(), record.Result.Status, record.Result.FinalLoss, metric.ValueOf(record.Result));

    public static Leaderboard Rank(RankMetric metric, IEnumerable<TrialRecord> records) =>
        Rank(metric, records.Select(r => Summarize(r, metric)));

    /// <summary>Trials that reached the metric first (lowest value), then those that did not (lowest final loss);
    /// cancelled trials, which did not run their budget, are listed last.</summary>
    public static Leaderboard Rank(RankMetric metric, IEnumerable<LeaderboardEntry> entries)
    {
        var ordered = entries
            .OrderBy(e => e.Status == TrialStatus.Cancelled)
            .ThenBy(e => e.MetricValue is null)
            .ThenBy(e => e.MetricValue ?? double.MaxValue)
            .ThenBy(e => double.IsFinite(e.FinalLoss) ? e.FinalLoss : double.MaxValue)
            .ThenBy(e => e.TrialId, StringComparer.Ordinal);
        return new Leaderboard(metric, [.. ordered.Select((e, i) => new LeaderboardRow(i + 1, e.TrialId, e.Optimizer, e.MetricValue, e.FinalLoss, e.Status))]);
    }
}
