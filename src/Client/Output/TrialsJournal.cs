using System.Text;
using System.Text.Json;
using Descent.Sweeps;
using Descent.Results;

namespace Descent.Client.Output;

/// <summary>
/// <c>trials.jsonl</c> in the sweep's folder: written as the sweep runs, so that a client killed at any moment
/// (SIGKILL, power loss) leaves every trial it had heard of on disk. The first line is the sweep (<see cref="JournalHeader"/>:
/// <c>{"sweep":{"id":..., "name":..., "metric":..., "trial_count":..., "started_at":...}}</c>); each further line is one
/// ended trial (<see cref="TrialEntry"/>), the same object as in results.json's <c>trials</c>, appended and flushed to
/// the disk as soon as the client learns of the end. A line cut short by a kill is the last one, and readers skip it. <c>plot</c> and <c>report</c> read the
/// journal when a folder has no results.json.
/// </summary>
public sealed class TrialsJournal : IDisposable
{
    public const string FileName = "trials.jsonl";

    readonly FileStream _file;

    TrialsJournal(FileStream file) => _file = file;

    public string Path => _file.Name;

    /// <summary>Creates <c>OUT/SWEEP-ID/trials.jsonl</c> with its sweep line; throws <see cref="IOException"/> or
    /// <see cref="UnauthorizedAccessException"/> when it cannot.</summary>
    public static TrialsJournal Create(string outDirectory, string sweepId, SweepPlan plan)
    {
        var directory = System.IO.Path.Combine(outDirectory, sweepId);
        Directory.CreateDirectory(directory);
        var file = new FileStream(System.IO.Path.Combine(directory, FileName), FileMode.Create, FileAccess.Write, FileShare.Read);
        var journal = new TrialsJournal(file);
        journal.Line(ResultsJson.Line(new JournalHeader
        {
            Sweep = new JournalSweep
            {
                Id = sweepId,
                Name = plan.Name,
                Metric = plan.Metric.Kind,
                MetricTarget = plan.Metric.Target,
                TrialCount = plan.Trials.Count,
                StartedAt = DateTimeOffset.UtcNow,
            },
        }));
        journal.Flush();
        return journal;
    }

    /// <summary>Appends one line per trial (<see cref="ResultsWriter.Entry"/>) and flushes them to the disk.</summary>
    public void Append(IEnumerable<ResultRow> rows)
    {
        foreach (var row in rows) Line(ResultsJson.Line(ResultsWriter.Entry(row)));
        Flush();
    }

    // One write per line: a kill cuts at most the last line.
    void Line(byte[] line) => _file.Write(line);

    void Flush() => _file.Flush(flushToDisk: true);

    public void Dispose() => _file.Dispose();

    /// <summary>The lines of a journal: its sweep line and its trials, in the order they ended. The last line is skipped
    /// when it is not a whole line (a kill cut it short); any other line that is not the sweep or a trial throws
    /// <see cref="JsonException"/> naming the line, as does a journal without a sweep line.</summary>
    public static (JournalSweep Sweep, IReadOnlyList<TrialEntry> Trials) Read(string path)
    {
        var lines = File.ReadAllLines(path, Encoding.UTF8);
        var last = Array.FindLastIndex(lines, line => line.Length > 0);
        JournalSweep? sweep = null;
        var trials = new List<TrialEntry>();
        for (var i = 0; i <= last; i++)
        {
            if (lines[i].Length == 0) continue;
            try
            {
                if (sweep is null) sweep = ResultsJson.ReadHeader(lines[i]).Sweep;
                else trials.Add(ResultsJson.ReadTrial(lines[i]));
            }
            catch (JsonException) when (i == last)
            {
            }
            catch (JsonException e)
            {
                throw new JsonException($"line {i + 1}: {e.Message}", e);
            }
        }
        return (sweep ?? throw new JsonException("no sweep line"), trials);
    }
}
