using System.Text;
using System.Text.Json;
using Descent.Sweeps;
using Descent.Results;
using Descent.Silo;

namespace Descent.Client.Output;

/// <summary>
/// <c>trials.jsonl</c> in the sweep's folder: written as the sweep runs, so that a client killed at any moment
/// (SIGKILL, power loss) leaves every trial it had heard of on disk. The first line is the sweep (<see cref="JournalHeader"/>:
/// <c>{"sweep":{"id":..., "name":..., "metric":..., "trial_count":..., "started_at":...}}</c>); each further line is one
/// ended trial (<see cref="TrialEntry"/>), the same object as in results.json's <c>trials</c>, appended and flushed to
/// the disk as soon as the client learns of the end. A line cut short by a kill is the last one, and readers skip it. <c>plot</c> and <c>report</c> read the
/// journal when a folder has no results.json; <c>resume</c> continues it (<see cref="Continue"/>), and no trial is
/// written twice.
/// </summary>
public sealed class TrialsJournal : IDisposable
{
    public const string FileName = "trials.jsonl";

    readonly FileStream _file;
    readonly HashSet<string> _journaled;

    TrialsJournal(FileStream file, IEnumerable<string> journaled) => (_file, _journaled) = (file, [.. journaled]);

    public string Path => _file.Name;

    /// <summary>Creates <c>OUT/SWEEP-ID/trials.jsonl</c> with its sweep line; throws <see cref="WriteFailedException"/>
    /// naming the file and the cause when it cannot.</summary>
    public static TrialsJournal Create(string outDirectory, string sweepId, SweepPlan plan)
    {
        var path = System.IO.Path.Combine(outDirectory, sweepId, FileName);
        try
        {
            return CreateAt(path, sweepId, plan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailedException.Of(path, e);
        }
    }

    static TrialsJournal CreateAt(string path, string sweepId, SweepPlan plan)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        // Unbuffered: each line is one write to the file, and a failed one leaves nothing in a buffer to fail again later.
        var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        var journal = new TrialsJournal(file, []);
        try
        {
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
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Continues the journal of a sweep whose client stopped (<c>descent-client resume</c>): a last line cut short
    /// by the kill is cut off, and trials it holds are not appended again. Creates it (<see cref="Create"/>) when it is
    /// missing or lost even its sweep line. Throws <see cref="WriteFailedException"/> naming the file and the cause when
    /// it cannot be written, <see cref="JsonException"/> naming the line when a whole line is not a journal's.</summary>
    public static TrialsJournal Continue(string outDirectory, string sweepId, SweepPlan plan)
    {
        var path = System.IO.Path.Combine(outDirectory, sweepId, FileName);
        if (!File.Exists(path)) return Create(outDirectory, sweepId, plan);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailedException.Of(path, e);
        }
        try
        {
            var bytes = new byte[file.Length];
            file.ReadExactly(bytes);
            var whole = Array.LastIndexOf(bytes, (byte)'\n') + 1;
            if (whole == 0)
            {
                file.Dispose();
                return Create(outDirectory, sweepId, plan);
            }
            var (_, trials) = Parse(Encoding.UTF8.GetString(bytes, 0, whole).Split('\n'));
            file.SetLength(whole);
            file.Seek(0, SeekOrigin.End);
            file.Flush(flushToDisk: true);
            return new TrialsJournal(file, trials.Select(t => t.Id));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            file.Dispose();
            throw WriteFailedException.Of(path, e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Appends one line per trial not in the journal yet (<see cref="ResultsWriter.Entry"/>) and flushes them
    /// to the disk. Throws <see cref="WriteFailedException"/> naming the file and the cause when they cannot be written
    /// (a full disk, the file or its folder removed): the whole lines written before the failure are kept, and a line
    /// cut short by it is cut off, so the journal stays readable and <see cref="Continue"/> appends after it.</summary>
    public void Append(IEnumerable<ResultRow> rows)
    {
        var fresh = rows.Where(row => !_journaled.Contains(row.Trial.Id)).ToList();
        if (fresh.Count == 0) return;
        var (whole, written) = (_file.Position, 0);
        try
        {
            // Lines written into a removed file vanish with it: that is a failed write, not a made one.
            if (!File.Exists(Path)) throw new WriteFailedException(Path, "the file was removed while the sweep ran (its folder deleted?)");
            foreach (var row in fresh)
            {
                Line(ResultsJson.Line(ResultsWriter.Entry(row)));
                (whole, written) = (_file.Position, written + 1);
            }
            Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!TryCutTo(whole)) written = 0;
            foreach (var row in fresh.Take(written)) _journaled.Add(row.Trial.Id);
            throw WriteFailedException.Of(Path, e);
        }
        foreach (var row in fresh) _journaled.Add(row.Trial.Id);
    }

    /// <summary>Cuts off what a failed append left after the last whole line and flushes the rest to the disk; false
    /// when that fails too (readers still skip a last line cut short).</summary>
    bool TryCutTo(long length)
    {
        try
        {
            _file.SetLength(length);
            _file.Flush(flushToDisk: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // One write per line: a kill cuts at most the last line.
    void Line(byte[] line) => _file.Write(line);

    void Flush() => _file.Flush(flushToDisk: true);

    public void Dispose() => _file.Dispose();

    /// <summary>The lines of a journal: its sweep line and its trials, in the order they ended. The last line is skipped
    /// when it is not a whole line (a kill cut it short); any other line that is not the sweep or a trial throws
    /// <see cref="JsonException"/> naming the line, as does a journal without a sweep line.</summary>
    public static (JournalSweep Sweep, IReadOnlyList<TrialEntry> Trials) Read(string path) => Parse(File.ReadAllLines(path, Encoding.UTF8));

    static (JournalSweep Sweep, IReadOnlyList<TrialEntry> Trials) Parse(string[] lines)
    {
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
