using System.Text;
using System.Text.Json;
using Descent.Sweeps;
using Descent.Contracts.Sweeps;

namespace Descent.Client.Output;

/// <summary>
/// <c>trials.jsonl</c> in the sweep's folder: written as the sweep runs, so that a client killed at any moment
/// (SIGKILL, power loss) leaves every trial it had heard of on disk. The first line is the sweep
/// (<c>{"sweep":{"id":..., "name":..., "metric":..., "trial_count":...}}</c>); each further line is one ended trial,
/// the same object as in results.json's <c>trials</c>, appended and flushed to the disk as soon as the client learns of
/// the end. A line cut short by a kill is the last one, and readers skip it. <c>plot</c> and <c>report</c> read the
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
        journal.Line(json =>
        {
            json.WriteStartObject();
            json.WriteStartObject("sweep");
            json.WriteString("id", sweepId);
            json.WriteString("name", plan.Name);
            json.WriteString("metric", plan.Metric.Name);
            if (plan.Metric.Target is { } target) json.WriteNumber("metric_target", target);
            json.WriteNumber("trial_count", plan.Trials.Count);
            ResultsWriter.WriteTime(json, "started_at", DateTimeOffset.UtcNow);
            json.WriteEndObject();
            json.WriteEndObject();
        });
        journal.Flush();
        return journal;
    }

    /// <summary>Appends one line per trial and flushes them to the disk.</summary>
    public void Append(IEnumerable<ResultRow> rows)
    {
        foreach (var row in rows) Line(json => ResultsWriter.WriteTrial(json, row));
        Flush();
    }

    void Line(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer)) write(json);
        buffer.WriteByte((byte)'\n');
        // One write per line: a kill cuts at most the last line.
        _file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    void Flush() => _file.Flush(flushToDisk: true);

    public void Dispose() => _file.Dispose();

    /// <summary>The lines of a journal: the sweep object and the trial objects; a line that is not complete JSON (the
    /// last one, cut by a kill) is skipped.</summary>
    public static (JsonElement? Sweep, List<JsonElement> Trials) Read(string path)
    {
        JsonElement? sweep = null;
        var trials = new List<JsonElement>();
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            if (line.Length == 0) continue;
            JsonElement element;
            try
            {
                using var document = JsonDocument.Parse(line);
                element = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                continue;
            }
            if (element.ValueKind != JsonValueKind.Object) continue;
            if (element.TryGetProperty("sweep", out var s)) sweep = s;
            else trials.Add(element);
        }
        return (sweep, trials);
    }
}
