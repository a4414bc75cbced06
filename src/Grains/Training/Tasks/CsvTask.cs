using System.Globalization;
using Descent.Contracts.Trials;
using TorchSharp;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Tasks;

/// <summary>Data a task cannot train on (an unreadable CSV file, a cell that is not a finite float32, targets that
/// overflow), with the place and the reason: the data's fault, so the trial fails before any step.</summary>
public sealed class TaskDataException(string message) : Exception(message);

/// <summary>A user's CSV file: a header row, then one numeric row per example; <c>target</c> is the label column.
/// Messages about a file never quote a byte of it (a header's names, a cell's text): whichever file a task names, even
/// one that is not a CSV at all (a passwd file under the data root), an error gives its path, the line, the column's
/// number and what is wrong, and the only names it quotes are the grid's own (<c>target</c>).</summary>
static class CsvTask
{
    public static (Tensor X, Tensor Y, nn.Module<Tensor, Tensor> Model) Load(CsvTaskSpec spec)
    {
        var (features, targets, width) = Read(spec.Path, spec.Target);
        var rows = targets.Length;
        var x = tensor(features, [rows, width]);
        var y = tensor(targets, [rows, 1]);
        return (x, y, Problem.Architecture(spec, width));
    }

    /// <summary>Reads the file into row-major features and targets, or throws <see cref="TaskDataException"/>: also for
    /// a cell that is a number but not a finite float32 (NaN, an infinity, or a value past ±3.4028235E+38), feature
    /// or target, which would otherwise surface as a loss of NaN blamed on the optimizer.</summary>
    internal static (float[] Features, float[] Targets, int Width) Read(string path, string target)
    {
        if (!File.Exists(path))
            throw new TaskDataException($"task.path = \"{path}\": no such file (looked at {Path.GetFullPath(path)})");
        using var reader = new StreamReader(path);
        var header = reader.ReadLine();
        if (string.IsNullOrWhiteSpace(header))
            throw new TaskDataException($"task.path = \"{path}\": the file is empty; it needs a header row naming the columns");
        var names = SplitLine(header, path, 1);
        var targetColumn = Array.FindIndex(names, n => n.Trim() == target);
        if (targetColumn < 0)
            throw new TaskDataException($"task.target = \"{target}\": {path} has no such column (its header row, line 1, names {Columns(names.Length)}, none of them \"{target}\")");
        if (names.Length < 2)
            throw new TaskDataException($"task.path = \"{path}\": only the target column; there are no feature columns");

        var features = new List<float>();
        var targets = new List<float>();
        var lineNumber = 1;
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var cells = SplitLine(line, path, lineNumber);
            if (cells.Length != names.Length)
                throw new TaskDataException($"{path} line {lineNumber}: {cells.Length} fields, but the header has {names.Length}");
            for (var c = 0; c < cells.Length; c++)
            {
                var value = Cell(cells[c], out var problem);
                if (problem is not null)
                    throw new TaskDataException($"{path} line {lineNumber}, column {c + 1}{(c == targetColumn ? $" (the target \"{target}\")" : "")}: the cell {problem}");
                if (c == targetColumn) targets.Add(value);
                else features.Add(value);
            }
        }
        if (targets.Count == 0)
            throw new TaskDataException($"task.path = \"{path}\": a header but no data rows");
        return ([.. features], [.. targets], names.Length - 1);
    }

    static string Columns(int count) => count == 1 ? "1 column" : $"{count} columns";

    /// <summary>A cell's value as float32, or, in <paramref name="problem"/>, why it has none: "is not a number", or
    /// "is not a finite number (...)" with the reason: NaN, infinite, or a number that overflows float32.</summary>
    internal static float Cell(string text, out string? problem)
    {
        if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            problem = float.IsFinite(value) ? null
                : float.IsNaN(value) ? "is not a finite number (it is NaN)"
                // Digits that parse to an infinity are a number past float32's range (1e39, 1e400); "Infinity" is one.
                : text.Any(char.IsAsciiDigit) ? "is not a finite number (it overflows float32)"
                : "is not a finite number (it is infinite)";
            return value;
        }
        // .NET reads "NaN" and "Infinity" in any case, but not the spellings numpy, R or C runtimes also write.
        problem = text.Trim().TrimStart('+', '-').ToLowerInvariant() switch
        {
            "inf" or "∞" or "1.#inf" => "is not a finite number (it is infinite)",
            "nan(ind)" or "1.#ind" or "1.#qnan" => "is not a finite number (it is NaN)",
            _ => "is not a number",
        };
        return float.NaN;
    }

    /// <summary>Splits one line on commas; a field may be double-quoted (with "" for a quote inside).</summary>
    static string[] SplitLine(string line, string path, int lineNumber)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var ch = line[i];
            if (quoted)
            {
                if (ch != '"') field.Append(ch);
                else if (i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
                else quoted = false;
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (ch != '\r') field.Append(ch);
        }
        if (quoted) throw new TaskDataException($"{path} line {lineNumber}: a quoted field is not closed");
        fields.Add(field.ToString());
        return [.. fields];
    }
}
