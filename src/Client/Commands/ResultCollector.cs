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

    readonly Dictionary<string, TrialSummary> _summaries = [];
    readonly Dictionary<string, TrialRecord> _records = [];
    int _epoch, _seen;

    public IReadOnlyDictionary<string, TrialSummary> Summaries => _summaries;
    public IReadOnlyDictionary<string, TrialRecord> Records => _records;

    /// <summary>Fetches (and journals) every trial that ended before <paramref name="snapshot"/> was taken, each once:
    /// when the coordinator was activated again meanwhile (another epoch, another order), it reads the list again from
    /// the start and skips the trials it has.</summary>
    public async Task CatchUp(SweepSnapshot snapshot, CancellationToken cancellation = default)
    {
        if (snapshot.EndedEpoch == _epoch && _seen >= snapshot.EndedCount) return;
        while (true)
        {
            var page = await coordinator.GetEnded(_seen, Batch).WaitAsync(cancellation);
            if (page.Epoch != _epoch)
            {
                if (_seen > 0)
                {
                    (_epoch, _seen) = (page.Epoch, 0);
                    continue;
                }
                _epoch = page.Epoch;
            }
            if (page.Trials.Count == 0) return;
            var fresh = page.Trials.Where(t => !_summaries.ContainsKey(t.TrialId)).DistinctBy(t => t.TrialId).ToList();
            var records = new TrialRecord?[fresh.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, fresh.Count).Where(i => fresh[i].HasRecord),
                new ParallelOptions { MaxDegreeOfParallelism = ReadConcurrency, CancellationToken = cancellation },
                async (i, _) => records[i] = await grains.GetGrain<ITrialGrain>(TrialKeys.Of(sweepId, fresh[i].TrialId)).GetRecord());
            var rows = new List<ResultRow>();
            for (var i = 0; i < fresh.Count; i++)
            {
                _summaries[fresh[i].TrialId] = fresh[i];
                if (records[i] is { } record) _records[record.TrialId] = record;
                if (plan.Find(fresh[i].TrialId) is { } trial)
                    rows.Add(ResultRow.Of(trial, snapshot, fresh[i], records[i], null));
            }
            journal?.Append(rows);
            _seen += page.Trials.Count;
            if (page.Trials.Count < Batch) return;
        }
    }

    public SweepResults Results(SweepSnapshot snapshot, Leaderboard leaderboard) =>
        SweepResults.Of(plan, snapshot, _summaries, _records, leaderboard);
}
