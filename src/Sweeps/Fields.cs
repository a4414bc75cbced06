using System.Globalization;
using System.Text.Json;
using Descent.Contracts.Trials;

namespace Descent.Sweeps;

/// <summary>Every field of the grid format (the rows of <see cref="SweepParameters"/>), and how one value of a field is
/// read and checked.</summary>
static class Fields
{
    public const string Synthetic = SweepParameters.Synthetic, Linear = SweepParameters.Linear, Csv = SweepParameters.Csv;
    public static readonly IReadOnlyList<string> TaskKinds = SweepParameters.TaskKinds;

    public static IReadOnlyList<SweepParameter> All => SweepParameters.All;

    /// <summary>Task fields a task of <paramref name="kind"/> cannot do without.</summary>
    public static string[] Required(string kind) => [.. All.Where(f => f.RequiredBy.Contains(kind)).Select(f => f.Name)];

    /// <summary>A field by its plain name (<c>n_row</c>) or its section-qualified one (<c>task.n_row</c>).</summary>
    public static SweepParameter? Find(string name)
    {
        var dot = name.IndexOf('.');
        var section = dot < 0 ? null : name[..dot];
        var plain = dot < 0 ? name : name[(dot + 1)..];
        var field = SweepParameters.Find(plain);
        if (field is null || section is null) return field;
        return (section, field.Section) switch
        {
            ("task", ParameterSection.Task) or ("budget", ParameterSection.Budget) or ("optimizer", ParameterSection.Optimizer) => field,
            _ => null,
        };
    }

    /// <summary>Reads one JSON value as <paramref name="field"/>'s type: a long, a double or a string; null and a
    /// message when it has another type.</summary>
    public static object? Read(SweepParameter field, JsonElement value, out string? error)
    {
        error = null;
        switch (field.Type)
        {
            case ParameterType.Integer:
                if (!TryWhole(value, out var whole, out error)) return null;
                var (min, max) = field.Name == "seed" ? (long.MinValue, MaxSeed) : (int.MinValue, int.MaxValue);
                if (whole >= min && whole <= max) return whole;
                error = whole < min ? $"must be at least {min}" : $"must be at most {max}";
                return null;
            case ParameterType.Number:
                if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number)) return number;
                // System.Text.Json reads 1e400 as an infinity: the number is valid JSON, but past float64's range.
                error = value.ValueKind == JsonValueKind.Number ? "must be a finite number (it overflows float64)" : $"must be a number, not {Kind(value)}";
                return null;
            default:
                if (value.ValueKind == JsonValueKind.String) return value.GetString()!;
                error = $"must be a string, not {Kind(value)}";
                return null;
        }
    }

    /// <summary>Seeds stay below 2^53, where every whole number is exact in JSON readers, and sums of a seed and
    /// a repeat index cannot overflow.</summary>
    public const long MaxSeed = 1L << 53;

    /// <summary>A whole number, also written as <c>1e3</c> or <c>1000.0</c>; otherwise a message saying what it is.</summary>
    public static bool TryWhole(JsonElement value, out long whole, out string? error)
    {
        error = null;
        whole = 0;
        if (value.ValueKind != JsonValueKind.Number)
        {
            error = $"must be a whole number, not {Kind(value)}";
            return false;
        }
        if (value.TryGetInt64(out whole)) return true;
        if (value.TryGetDouble(out var d) && double.IsFinite(d) && Math.Floor(d) == d && Math.Abs(d) <= MaxSeed)
        {
            whole = (long)d;
            return true;
        }
        error = !double.TryParse(value.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var big) || Math.Floor(big) != big
            ? "must be a whole number"
            : double.IsFinite(big) ? "is too large" : "must be a finite whole number (it overflows float64)";
        return false;
    }

    public static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true/false",
        _ => "null",
    };

    /// <summary>What is wrong with <paramref name="value"/> as a value of <paramref name="field"/> in a task of
    /// <paramref name="taskKind"/>: a name that is not one of its choices, a CSV file that is not there, and the
    /// contracts' own checks.</summary>
    public static IEnumerable<string> Check(SweepParameter field, object value, string taskKind, string baseDirectory)
    {
        if (field.Choices is { } choices)
        {
            if (!choices.Contains((string)value, StringComparer.OrdinalIgnoreCase)) yield return Unknown(field.Name, (string)value, choices);
            yield break;
        }
        if (field.Name == "path")
        {
            var path = (string)value;
            if (path.Contains('\0'))
            {
                yield return "must not contain a NUL character";
                yield break;
            }
            if (path.Length > 0 && !File.Exists(Path.GetFullPath(path, baseDirectory)))
                yield return $"no such file (looked for {Path.GetFullPath(path, baseDirectory)})";
        }
        var probe = TrialDraft.Probe(taskKind, field);
        probe.Set(field, value);
        foreach (var problem in probe.Build(baseDirectory).Problems())
            if (problem.Field == field.ProblemField) yield return problem.Message;
    }

    public static string Unknown(string what, string value, IEnumerable<string> known)
    {
        var names = known.ToList();
        var near = Suggest(value, names);
        return $"unknown {what}{(near is null ? "" : $"; did you mean \"{near}\"?")} (one of {string.Join(", ", names)})";
    }

    /// <summary>The known name nearest to <paramref name="value"/>, if it is near enough to be a typo.</summary>
    public static string? Suggest(string value, IEnumerable<string> known)
    {
        var names = known.ToList();
        if (Aliases.TryGetValue(value.ToLowerInvariant(), out var alias) && names.Contains(alias)) return alias;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var name in names)
        {
            var d = Distance(value.ToLowerInvariant(), name.ToLowerInvariant());
            if (d < bestDistance) (best, bestDistance) = (name, d);
        }
        return best is not null && bestDistance <= Math.Max(2, best.Length / 3) && bestDistance < Math.Max(value.Length, 1) ? best : null;
    }

    /// <summary>Names users bring from other tools.</summary>
    static readonly Dictionary<string, string> Aliases = new()
    {
        ["learning_rate"] = "lr",
        ["optimiser"] = "optimizer",
        ["epochs"] = "steps",
        ["iterations"] = "steps",
    };

    /// <summary>Edits between two names, a swap of neighbouring letters counting as one (optimal string alignment).</summary>
    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        for (var j = 1; j <= b.Length; j++)
        {
            d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
        }
        return d[a.Length, b.Length];
    }

    /// <summary>A value as results and messages show it.</summary>
    public static string Format(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

/// <summary>The fields of one trial as the grid sets them, before they become a <see cref="TrialSpec"/>.</summary>
sealed class TrialDraft
{
    readonly Dictionary<string, object> _values = new();

    public TrialDraft(string taskKind) => TaskKind = taskKind;

    public string TaskKind { get; }

    public void Set(SweepParameter field, object value) => _values[field.Name] = value;

    public object? Get(string name) => _values.GetValueOrDefault(name);

    public TrialDraft Copy()
    {
        var copy = new TrialDraft(TaskKind);
        foreach (var (k, v) in _values) copy._values[k] = v;
        return copy;
    }

    /// <summary>A draft that is valid except for what <paramref name="field"/> will be set to, so that the contracts'
    /// checks of that one field can be asked for.</summary>
    public static TrialDraft Probe(string taskKind, SweepParameter field)
    {
        var draft = new TrialDraft(taskKind);
        foreach (var name in Fields.Required(taskKind))
            draft._values[name] = Fields.Find(name)!.Type == ParameterType.Text ? "probe" : 1L;
        if (taskKind == Fields.Csv) draft._values["model"] = "mlp";
        var user = Enum.GetValues<OptimizerKind>().FirstOrDefault(field.ReadBy.Contains, OptimizerKind.Sgd);
        draft._values["optimizer"] = user.Name();
        return draft;
    }

    /// <summary>The trial spec: the task kind's blank record and the defaults, with every value the draft has set
    /// (<see cref="SweepParameter.Set"/>), normalized; CSV paths are made absolute against
    /// <paramref name="baseDirectory"/> (the grid file's folder) so that where the client runs does not matter.</summary>
    public TrialSpec Build(string baseDirectory)
    {
        var spec = new TrialSpec(SweepParameters.BlankTask(TaskKind), new OptimizerSpec(OptimizerKind.Sgd), new Budget());
        foreach (var (name, value) in _values) spec = SweepParameters.Find(name)!.Set(spec, value);
        if (spec.Task is CsvTaskSpec { Path.Length: > 0 } csv) spec = spec with { Task = csv with { Path = Path.GetFullPath(csv.Path, baseDirectory) } };
        return spec with { Optimizer = spec.Optimizer.Normalized() };
    }
}
