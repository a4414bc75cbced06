using Descent.Sweeps;
using Descent.Client.Output;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Client.Commands;

/// <summary>
/// What the client knows of a sweep's ended trials: their summaries, in the order they ended, and their full records,
/// each fetched once from its trial grain as soon as a snapshot says more trials ended (no call per running trial, no
/// re-reading). With a journal, each batch is on disk before the next snapshot is asked for.
/// </summary>
sealed class ResultCollector(IGrainFactory grains, ISweepCoordinatorGrain coordinator, SweepPlan plan, string sweepId, TrialsJournal? journal)
{
    const int Batch = 500, ReadConcurrency = 32;

    readonly Dictionary<string, PlannedTrial> _planned = plan.Trials.ToDictionary(t => t.Id);
    readonly Dictionary<string, TrialSummary> _summaries = [];
    readonly Dictionary<string, TrialRecord> _records = [];
    int _seen;

    public IReadOnlyDictionary<string, TrialSummary> Summaries => _summaries;
    public IReadOnlyDictionary<string, TrialRecord> Records => _records;

    /// <summary>Fetches (and journals) every trial that ended before <paramref name="snapshot"/> was taken.</summary>
    public async Task CatchUp(SweepSnapshot snapshot, CancellationToken cancellation = default)
    {
        while (_seen < snapshot.EndedCount)
        {
            var ended = await coordinator.GetEnded(_seen, Batch).WaitAsync(cancellation);
            if (ended.Count == 0) break;
            var records = new TrialRecord?[ended.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, ended.Count).Where(i => ended[i].HasRecord),
                new ParallelOptions { MaxDegreeOfParallelism = ReadConcurrency, CancellationToken = cancellation },
                async (i, _) => records[i] = await grains.GetGrain<ITrialGrain>(TrialKeys.Of(sweepId, ended[i].TrialId)).GetRecord());
            var rows = new List<ResultRow>();
            for (var i = 0; i < ended.Count; i++)
            {
                _summaries[ended[i].TrialId] = ended[i];
                if (records[i] is { } record) _records[record.TrialId] = record;
                if (_planned.GetValueOrDefault(ended[i].TrialId) is { } trial)
                    rows.Add(ResultRow.Of(trial, snapshot, ended[i], records[i], null));
            }
            journal?.Append(rows);
            _seen += ended.Count;
        }
    }

    public SweepResults Results(SweepSnapshot snapshot, Leaderboard leaderboard) =>
        SweepResults.Of(plan, snapshot, _summaries, _records, leaderboard);
}
