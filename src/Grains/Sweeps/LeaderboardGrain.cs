using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Grains.Sweeps;

[GenerateSerializer, Alias("descent.leaderboard-state")]
public sealed class LeaderboardState
{
    [Id(0)] public Dictionary<string, TrialRecord> Results { get; set; } = [];
}

/// <summary>Every result of one sweep exactly once: keyed by trial id, so a retried trial replaces its earlier
/// record instead of adding one. Ranks on demand by the sweep's metric.</summary>
public sealed class LeaderboardGrain([PersistentState("leaderboard", SweepStorage.Name)] IPersistentState<LeaderboardState> state)
    : Grain, ILeaderboardGrain
{
    public async Task Record(TrialRecord record)
    {
        state.State.Results[record.TrialId] = record;
        await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<TrialRecord>> GetResults() =>
        Task.FromResult<IReadOnlyList<TrialRecord>>([.. state.State.Results.Values.OrderBy(r => r.TrialId, StringComparer.Ordinal)]);

    public Task<Leaderboard> GetTable(RankMetric metric) => Task.FromResult(Rank(metric, state.State.Results.Values));

    /// <summary>Trials that reached the metric first (lowest value), then those that did not (lowest final loss);
    /// cancelled trials, which did not run their budget, are listed last.</summary>
    internal static Leaderboard Rank(RankMetric metric, IEnumerable<TrialRecord> records)
    {
        var ordered = records
            .Select(r => (Record: r, Value: metric.ValueOf(r.Result)))
            .OrderBy(x => x.Record.Result.Status == TrialStatus.Cancelled)
            .ThenBy(x => x.Value is null)
            .ThenBy(x => x.Value ?? double.MaxValue)
            .ThenBy(x => double.IsFinite(x.Record.Result.FinalLoss) ? x.Record.Result.FinalLoss : double.MaxValue)
            .ThenBy(x => x.Record.TrialId, StringComparer.Ordinal);
        var rows = ordered.Select((x, i) => new LeaderboardRow(i + 1, x.Record.TrialId, x.Record.Spec.Optimizer.ToString(),
            x.Value, x.Record.Result.FinalLoss, x.Record.Result.Status));
        return new Leaderboard(metric, [.. rows]);
    }
}
