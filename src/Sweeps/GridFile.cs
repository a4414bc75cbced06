using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Sweeps;

/// <summary>
/// Reads a grid file (see README, "Grid files"): W&amp;B-style <c>method</c>, <c>metric</c> and <c>parameters</c>,
/// plus the <c>task</c> and <c>budget</c> every trial shares, <c>per_optimizer</c> overrides, and <c>repeats</c>.
/// Every problem is reported at once (<see cref="GridException"/>), each with its field, value, line and column.
/// </summary>
public static class GridFile
{
    public const int DefaultMaxTrials = 10_000;

    /// <summary>The most trials a sweep can plan, whatever <c>--max-trials</c> says: the client holds every trial's plan
    /// and the coordinator its spec (100,000 trials took about 560 MB and 9 to 13 s to start on the embedded silo; a grid
    /// of 1e9 would need hundreds of GB), so a grid past it is refused from its count before anything is expanded.</summary>
    public const int MaxPlannedTrials = 100_000;

    static readonly JsonDocumentOptions DocumentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        // Duplicate keys are found by JsonPositions, which knows where they are.
        AllowDuplicateProperties = true,
    };

    static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip };

    static readonly Regex NonFiniteToken = new(@"^[+-]?(nan|infinity|inf|∞)(?![\w.])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>Reads, checks and expands the grid file at <paramref name="path"/>.</summary>
    /// <param name="maxTrials">Trials the grid may expand to (<c>--max-trials</c>; at most <see cref="MaxPlannedTrials"/> are planned).</param>
    /// <param name="cancellation">Checked while values are read and trials expanded (Ctrl-C).</param>
    /// <exception cref="GridException">The file cannot run: every problem, each with its field and value.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public static SweepPlan Load(string path, int maxTrials = DefaultMaxTrials, CancellationToken cancellation = default)
    {
        if (Directory.Exists(path)) throw new GridException(path, [new("file", Quote(path), "is a folder, not a grid file")]);
        if (!File.Exists(path)) throw new GridException(path, [new("file", Quote(path), "no such file")]);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GridException(path, [new("file", Quote(path), $"cannot be read: {e.Message}")]);
        }
        var fullPath = Path.GetFullPath(path);
        return Parse(bytes, path, Path.GetDirectoryName(fullPath)!, maxTrials, cancellation);
    }

    /// <param name="path">Names the file in messages and gives the default sweep name.</param>
    /// <param name="baseDirectory">Relative CSV paths are resolved against it.</param>
    /// <param name="maxTrials">As <see cref="Load"/>'s.</param>
    /// <param name="cancellation">As <see cref="Load"/>'s.</param>
    public static SweepPlan Parse(byte[] utf8, string path, string baseDirectory, int maxTrials = DefaultMaxTrials, CancellationToken cancellation = default)
    {
        cancellation.ThrowIfCancellationRequested();
        ReadOnlySpan<byte> bom = [0xEF, 0xBB, 0xBF];
        if (utf8.AsSpan().StartsWith(bom)) utf8 = utf8[3..];
        if (Encoding.UTF8.GetString(utf8).Trim().Length == 0)
            throw new GridException(path, [new("file", Quote(path), "is empty; a grid file is a JSON object (see examples/grid.json)")]);

        if (!System.Text.Unicode.Utf8.IsValid(utf8))
        {
            var (line, column) = JsonPositions.Locate(utf8, FirstInvalidByte(utf8));
            throw new GridException(path, [new("file", Quote(path), "is not UTF-8 text (save it as UTF-8)", line, column)]);
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, DocumentOptions);
        }
        catch (JsonException e)
        {
            if (NonFiniteLiteral(utf8) is { } literal) throw new GridException(path, [literal]);
            // BytePositionInLine counts bytes; the column counts characters, as editors do.
            var lineStart = 0;
            for (var line = 0; line < (e.LineNumber ?? 0); line++)
                lineStart = Array.IndexOf(utf8, (byte)'\n', lineStart) + 1;
            var bytes = (int)Math.Min(e.BytePositionInLine ?? 0, utf8.Length - lineStart);
            throw new GridException(path, [new("file", Quote(path), $"is not valid JSON: {SyntaxMessage(e)}",
                (int)(e.LineNumber ?? 0) + 1, Encoding.UTF8.GetCharCount(utf8, lineStart, bytes) + 1)]);
        }
        using (document)
        {
            var positions = new JsonPositions(utf8, ReaderOptions);
            if (positions.InvalidText is { } invalid)
                throw new GridException(path, [new("file", Quote(path), "has a string that is not valid text (a lone UTF-16 surrogate such as \\uD800)",
                    invalid.Line, invalid.Column)]);
            if (positions.Duplicates.Count > 0)
                throw new GridException(path, positions.Duplicates.Select(d => new GridProblem(d.Path, null, "is given twice; give each key once", d.Line, d.Column)));
            var name = Path.GetFileNameWithoutExtension(path);
            return new GridReader(document.RootElement, positions, path, baseDirectory, maxTrials, name.Length > 0 ? name : "sweep", cancellation).Read()
                with { Source = (Encoding.UTF8.GetString(utf8), baseDirectory) };
        }
    }

    /// <summary>The problem when a document stops being JSON at a NaN or an infinity where a number belongs (JSON has
    /// neither, but Python's json module writes <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c>), named by the field it
    /// was given for; null for any other syntax error.</summary>
    static GridProblem? NonFiniteLiteral(byte[] utf8)
    {
        if (new JsonPositions(utf8, ReaderOptions).SyntaxError is not { } error) return null;
        var offset = error.Offset;
        while (offset < utf8.Length && utf8[offset] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)',' or (byte)':' or (byte)'[')
            offset++;
        var match = NonFiniteToken.Match(Encoding.UTF8.GetString(utf8, offset, Math.Min(16, utf8.Length - offset)));
        if (!match.Success) return null;
        var (line, column) = JsonPositions.Locate(utf8, offset);
        return new GridProblem(error.Path.Length == 0 ? "file" : error.Path, match.Value,
            "must be a finite number; JSON has no NaN or Infinity (Python's json module writes them for float('nan') and float('inf'))", line, column);
    }

    static int FirstInvalidByte(byte[] utf8)
    {
        var offset = 0;
        while (offset < utf8.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(utf8.AsSpan(offset), out _, out var consumed) != System.Buffers.OperationStatus.Done) return offset;
            offset += consumed;
        }
        return offset;
    }

    static string SyntaxMessage(JsonException e)
    {
        var message = e.Message;
        foreach (var cut in new[] { " Path:", " LineNumber:" })
            if (message.IndexOf(cut, StringComparison.Ordinal) is > 0 and var i) message = message[..i];
        return message.Trim();
    }

    static string Quote(string s) => $"\"{s}\"";
}

/// <summary>The values one field takes in a sweep: a list (grid and random) or a distribution (random only).</summary>
sealed class Domain(SweepParameter field, string path)
{
    public SweepParameter Field { get; } = field;
    public string Path { get; } = path;
    public List<object> Values { get; } = [];
    public string? Distribution { get; set; }
    public object Min { get; set; } = 0.0;
    public object Max { get; set; } = 0.0;

    public int Count => Distribution is null ? Values.Count : 1;

    public object Sample(Random random)
    {
        switch (Distribution)
        {
            case null:
                return Values[random.Next(Values.Count)];
            case "int_uniform":
                return random.NextInt64((long)Min, (long)Max + 1);
            case "uniform":
                return (double)Min + random.NextDouble() * ((double)Max - (double)Min);
            default:
                var (low, high) = (Math.Log((double)Min), Math.Log((double)Max));
                return Math.Exp(low + random.NextDouble() * (high - low));
        }
    }
}

sealed class GridReader(JsonElement root, JsonPositions positions, string path, string baseDirectory, int maxTrials, string defaultName,
    CancellationToken cancellation)
{
    static readonly string[] TopKeys =
        ["name", "description", "method", "task", "budget", "metric", "parameters", "per_optimizer", "repeats", "trials", "seed", "max_retries"];
    static readonly string[] Methods = ["grid", "random"];
    static readonly string[] DomainKeys = ["value", "values", "distribution", "min", "max"];
    static readonly string[] Distributions = ["uniform", "log_uniform", "log_uniform_values", "int_uniform"];
    static readonly string[] MetricKeys = ["name", "goal", "target"];
    static readonly string[] MetricNames = ["final_loss", "time_to_target", "gradients_to_target"];

    readonly List<GridProblem> _problems = [];
    readonly List<(SweepParameter Field, object Value)> _fixed = [];
    readonly List<Domain> _parameters = [];
    readonly Dictionary<OptimizerKind, List<Domain>> _perOptimizer = [];
    string _method = "grid";
    string _taskKind = Fields.Synthetic;
    bool _taskKindKnown; // false: task fields are not checked against a kind (that would only repeat the kind's problem)

    public SweepPlan Read()
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            Problem("file", root, "must be a JSON object with \"task\", \"method\" and \"parameters\" (see examples/grid.json)");
            throw new GridException(path, _problems);
        }
        foreach (var property in root.EnumerateObject())
            if (!TopKeys.Contains(property.Name)) UnknownKey(property.Name, property.Name, TopKeys, "key");

        var name = Text("name") ?? defaultName;
        if (name.Trim().Length == 0 && root.TryGetProperty("name", out var given)) Problem("name", given, "must not be empty");
        _method = Text("method") ?? "grid";
        if (!Methods.Contains(_method))
            Problem("method", root.GetProperty("method"), Fields.Unknown("method", _method, Methods));
        Text("description");

        ReadTask();
        ReadBudget();
        var metric = ReadMetric();
        var repeats = Whole("repeats", 1, 1) ?? 1;
        var maxRetries = Whole("max_retries", 2, 0) ?? 2;
        int? trials = null;
        long samplingSeed = 0;
        if (_method == "random")
        {
            trials = Whole("trials", null, 1);
            if (trials is null && !root.TryGetProperty("trials", out _))
                Problem("trials", null, "missing; a random search needs the number of configurations to draw, e.g. \"trials\": 20");
            samplingSeed = Whole("seed", 0, 0) ?? 0;
        }
        else
        {
            foreach (var key in new[] { "trials", "seed" })
                if (root.TryGetProperty(key, out var value))
                    Problem(key, value, $"only a random search takes \"{key}\" (\"method\": \"random\"); a grid runs every combination. The data's seed goes in \"task\"");
        }
        ReadParameters();
        var optimizers = Optimizers();
        ReadPerOptimizer(optimizers);
        CheckRequiredTaskFields(optimizers ?? []);
        if (_problems.Count > 0 || optimizers is null) throw new GridException(path, _problems);

        // Counted, not expanded: what the plan keeps is at most this many trials (equal ones collapse into one).
        var count = _method == "grid" ? optimizers.Aggregate(BigInteger.Zero, (sum, o) => sum + Combinations(Domains(o))) * repeats : (BigInteger)trials!.Value * repeats;
        if (count > Math.Min(maxTrials, GridFile.MaxPlannedTrials))
        {
            Problem(_method == "grid" ? "parameters" : "trials", null, maxTrials <= GridFile.MaxPlannedTrials
                ? $"the sweep expands to {count:N0} trials, past the cap of {maxTrials:N0} (raise it with --max-trials, or sweep fewer values)"
                : $"the sweep expands to {count:N0} trials, past the {GridFile.MaxPlannedTrials:N0} a sweep can plan whatever --max-trials says "
                  + "(the client holds every trial's plan in memory); sweep fewer values, or split the grid into several sweeps");
            throw new GridException(path, _problems);
        }

        var drafts = _method == "grid" ? GridDrafts(optimizers) : RandomDrafts(optimizers, trials!.Value, samplingSeed);
        var planned = new List<PlannedTrial>();
        var seen = new HashSet<string>();
        // Before collapsing: a grid's every combination, settings an optimizer does not read included; a random
        // search's every draw.
        var expanded = _method == "grid"
            ? (double)optimizers.Aggregate(BigInteger.Zero, (sum, o) => sum + Combinations(Swept(o))) * repeats
            : (double)trials!.Value * repeats;
        foreach (var (draft, swept) in drafts)
        {
            for (var r = 0; r < repeats; r++)
            {
                cancellation.ThrowIfCancellationRequested();
                var copy = draft.Copy();
                if (repeats > 1) copy.Set(Fields.Find("seed")!, (long)(draft.Get("seed") ?? 0L) + r);
                var spec = copy.Build(baseDirectory);
                var id = TrialIdentity.Of(spec);
                if (seen.Add(id)) planned.Add(new PlannedTrial(id, spec, Config(copy, spec, swept, repeats > 1)));
            }
        }
        return new SweepPlan(name, _method, metric, maxRetries, planned, expanded, Repeats: repeats);
    }

    // ---- sections ----

    void ReadTask()
    {
        if (!root.TryGetProperty("task", out var task))
        {
            Problem("task", null, "missing; say what to train, e.g. {\"kind\": \"synthetic\", \"n_row\": 20000, \"dim_in\": 10, \"dim_hidden\": 10, \"n_layers\": 3}");
            return;
        }
        if (task.ValueKind != JsonValueKind.Object)
        {
            Problem("task", task, $"must be an object, not {Fields.Kind(task)}");
            return;
        }
        if (!task.TryGetProperty("kind", out var kind))
        {
            Problem("task.kind", null, $"missing; one of {string.Join(", ", Fields.TaskKinds)}");
            return;
        }
        if (kind.ValueKind != JsonValueKind.String || !Fields.TaskKinds.Contains(kind.GetString()))
        {
            Problem("task.kind", kind, kind.ValueKind == JsonValueKind.String
                ? Fields.Unknown("task kind", kind.GetString()!, Fields.TaskKinds)
                : $"must be a string, one of {string.Join(", ", Fields.TaskKinds)}");
            return;
        }
        _taskKind = kind.GetString()!;
        _taskKindKnown = true;
        foreach (var property in task.EnumerateObject())
        {
            if (property.Name == "kind") continue;
            var field = Fields.Find(property.Name);
            if (field is not { Section: ParameterSection.Task } || !field.AppliesTo(_taskKind))
            {
                var known = Fields.All.Where(f => f.Section == ParameterSection.Task && f.AppliesTo(_taskKind)).Select(f => f.Name).Append("kind");
                UnknownKey("task." + property.Name, property.Name, known, $"field of {_taskKind} tasks");
                continue;
            }
            Fix(field, property, "task");
        }
    }

    void ReadBudget()
    {
        if (!root.TryGetProperty("budget", out var budget)) return;
        if (budget.ValueKind != JsonValueKind.Object)
        {
            Problem("budget", budget, $"must be an object such as {{\"steps\": 100}}, not {Fields.Kind(budget)}");
            return;
        }
        foreach (var property in budget.EnumerateObject())
        {
            var field = Fields.Find(property.Name);
            if (field is not { Section: ParameterSection.Budget })
            {
                UnknownKey("budget." + property.Name, property.Name, Fields.All.Where(f => f.Section == ParameterSection.Budget).Select(f => f.Name), "budget field");
                continue;
            }
            Fix(field, property, "budget");
        }
    }

    /// <summary>A value every trial shares, from <paramref name="section"/> (task or budget): once per field.</summary>
    void Fix(SweepParameter field, JsonProperty property, string section)
    {
        var where = $"{section}.{property.Name}";
        if (_fixed.Any(f => f.Field == field)) Problem(where, null, $"{field.Name} is given twice in {section}");
        else if (Value(field, property.Value, where) is { } value) _fixed.Add((field, value));
    }

    RankMetric ReadMetric()
    {
        var metric = new RankMetric();
        if (!root.TryGetProperty("metric", out var element)) return metric;
        if (element.ValueKind == JsonValueKind.String) element = default;
        if (element.ValueKind != JsonValueKind.Object)
        {
            Problem("metric", root.GetProperty("metric"), "must be an object such as {\"name\": \"final_loss\", \"goal\": \"minimize\"}");
            return metric;
        }
        foreach (var property in element.EnumerateObject())
            if (!MetricKeys.Contains(property.Name)) UnknownKey("metric." + property.Name, property.Name, MetricKeys, "metric field");
        var kind = MetricKind.FinalLoss;
        if (element.TryGetProperty("name", out var name))
        {
            var text = name.ValueKind == JsonValueKind.String ? name.GetString()! : null;
            var index = text is null ? -1 : Array.IndexOf(MetricNames, text);
            if (index < 0) Problem("metric.name", name, text is null ? "must be a string" : Fields.Unknown("metric", text, MetricNames));
            else kind = (MetricKind)index;
        }
        if (element.TryGetProperty("goal", out var goal) && !(goal.ValueKind == JsonValueKind.String && goal.GetString() == "minimize"))
            Problem("metric.goal", goal, "must be \"minimize\": every Descent metric is a loss, a time or a count, and less is better");
        double? target = null;
        if (element.TryGetProperty("target", out var t))
        {
            if (t.ValueKind == JsonValueKind.Number && t.TryGetDouble(out var value) && double.IsFinite(value)) target = value;
            else
            {
                // One problem per field: the target given is the problem, not a missing one.
                Problem("metric.target", t, t.ValueKind == JsonValueKind.Number ? "must be a finite number (it overflows float64)" : $"must be a number, not {Fields.Kind(t)}");
                return new RankMetric(kind);
            }
        }
        // A target-based metric without its own target ranks against the budget's target loss.
        target ??= _fixed.Where(f => f.Field.Name == "target_loss").Select(f => (double?)f.Value).FirstOrDefault();
        metric = new RankMetric(kind, target);
        var sweptTarget = root.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object
            && (p.TryGetProperty("target_loss", out _) || p.TryGetProperty("budget.target_loss", out _));
        foreach (var problem in metric.Problems())
            Problem(problem.Field, element.TryGetProperty("target", out var v) ? v : null,
                problem.Message + (target is not null ? ""
                    : sweptTarget ? " (give metric.target: budget.target_loss is swept, so it cannot stand in for it)"
                    : " (metric.target, or budget.target_loss)"));
        return metric;
    }

    void ReadParameters()
    {
        if (!root.TryGetProperty("parameters", out var parameters))
        {
            Problem("parameters", null, "missing; say what to sweep, at least {\"optimizer\": {\"values\": [\"sgd\", \"adam\"]}}");
            return;
        }
        if (parameters.ValueKind != JsonValueKind.Object)
        {
            Problem("parameters", parameters, $"must be an object, not {Fields.Kind(parameters)}");
            return;
        }
        _parameters.AddRange(ReadDomains(parameters, "parameters", allowOptimizer: true));
        if (!parameters.TryGetProperty("optimizer", out _))
            Problem("parameters.optimizer", null, "missing; say which optimizers to run, e.g. {\"values\": [\"sgd\", \"adam\", \"keep-stepping\"]}");
    }

    /// <summary>The optimizers the grid runs; null when parameters.optimizer is missing or was refused (its problem is
    /// reported already, and per_optimizer's keys cannot be checked against it).</summary>
    List<OptimizerKind>? Optimizers()
    {
        var domain = _parameters.FirstOrDefault(d => d.Field.Name == "optimizer");
        if (domain is null) return null;
        return [.. domain.Values.Select(v => OptimizerNames.TryParse((string)v, out var k) ? k : OptimizerKind.Sgd).Distinct()];
    }

    void ReadPerOptimizer(List<OptimizerKind>? optimizers)
    {
        if (!root.TryGetProperty("per_optimizer", out var element)) return;
        if (element.ValueKind != JsonValueKind.Object)
        {
            Problem("per_optimizer", element, "must be an object such as {\"sgd\": {\"steps\": 1000}}");
            return;
        }
        foreach (var property in element.EnumerateObject())
        {
            var where = "per_optimizer." + property.Name;
            if (!OptimizerNames.TryParse(property.Name, out var kind))
            {
                UnknownKey(where, property.Name, Enum.GetValues<OptimizerKind>().Select(k => k.Name()), "optimizer");
                continue;
            }
            if (_perOptimizer.ContainsKey(kind))
            {
                Problem(where, null, $"{kind.Name()} is given twice in per_optimizer");
                continue;
            }
            if (optimizers is not null && !optimizers.Contains(kind))
            {
                Problem(where, null, $"{kind.Name()} is not among parameters.optimizer's values, so this would change nothing");
                continue;
            }
            if (property.Value.ValueKind != JsonValueKind.Object)
            {
                Problem(where, property.Value, "must be an object of parameters, such as {\"steps\": {\"value\": 1000}}");
                continue;
            }
            var domains = ReadDomains(property.Value, where, allowOptimizer: false);
            foreach (var domain in domains.Where(d => !d.Field.UsedBy(kind)))
                Problem(domain.Path, null, $"{kind.Name()} does not read {domain.Field.Name} (it reads {string.Join(", ", kind.HyperParameters())})");
            _perOptimizer[kind] = domains;
        }
    }

    void CheckRequiredTaskFields(List<OptimizerKind> optimizers)
    {
        if (_problems.Any(p => p.Field.StartsWith("task", StringComparison.Ordinal))) return;
        foreach (var name in Fields.Required(_taskKind))
        {
            var given = _fixed.Any(f => f.Field.Name == name) || _parameters.Any(d => d.Field.Name == name)
                || (optimizers.Count > 0 && optimizers.All(o => _perOptimizer.GetValueOrDefault(o)?.Any(d => d.Field.Name == name) == true));
            if (!given) Problem("task." + name, null, $"missing; a {_taskKind} task needs {string.Join(", ", Fields.Required(_taskKind))}");
        }
    }

    // ---- domains and values ----

    List<Domain> ReadDomains(JsonElement parameters, string at, bool allowOptimizer)
    {
        var domains = new List<Domain>();
        foreach (var property in parameters.EnumerateObject())
        {
            var where = $"{at}.{property.Name}";
            var field = Fields.Find(property.Name);
            if (field is null)
            {
                var known = Fields.All.Where(f => f.Section != ParameterSection.Task || f.AppliesTo(_taskKind)).Select(f => f.Name);
                UnknownKey(where, property.Name, property.Name == "kind" ? [] : known, "parameter");
                continue;
            }
            if (field.Name == "optimizer" && !allowOptimizer)
            {
                Problem(where, property.Value, "per_optimizer sets parameters of one optimizer; the optimizers themselves are swept in parameters.optimizer");
                continue;
            }
            if (field.Section == ParameterSection.Task && _taskKindKnown && !field.AppliesTo(_taskKind))
            {
                Problem(where, null, $"not a field of {_taskKind} tasks (those are {string.Join(", ", Fields.All.Where(f => f.Section == ParameterSection.Task && f.AppliesTo(_taskKind)).Select(f => f.Name))})");
                continue;
            }
            // per_optimizer may override the task and budget (SGD gets 1000 steps where the others get 100).
            if (allowOptimizer && _fixed.Any(f => f.Field == field))
            {
                Problem(where, null, $"is also set in {field.ProblemField}; give it in one place (per_optimizer can override it for one optimizer)");
                continue;
            }
            if (domains.Any(d => d.Field == field))
            {
                Problem(where, null, $"{field.Name} is swept twice here");
                continue;
            }
            if (ReadDomain(field, property.Value, where) is { } domain) domains.Add(domain);
        }
        return domains;
    }

    Domain? ReadDomain(SweepParameter field, JsonElement element, string where)
    {
        var domain = new Domain(field, where);
        var problems = _problems.Count;
        switch (element.ValueKind)
        {
            case JsonValueKind.Array:
                ReadValues(domain, element, where);
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                    if (!DomainKeys.Contains(property.Name)) UnknownKey($"{where}.{property.Name}", property.Name, DomainKeys, "key");
                var forms = new[] { "value", "values", "distribution" }.Where(k => element.TryGetProperty(k, out _)).ToList();
                if (forms.Count != 1)
                {
                    Problem(where, forms.Count == 0 ? element : null, forms.Count == 0
                        ? "needs one of \"value\", \"values\" or \"distribution\""
                        : $"has {string.Join(" and ", forms)}; give only one");
                    return null;
                }
                if (forms[0] != "distribution")
                    foreach (var bound in new[] { "min", "max" })
                        if (element.TryGetProperty(bound, out var stray))
                            Problem($"{where}.{bound}", stray, $"{bound} goes with a distribution, not with \"{forms[0]}\"");
                if (forms[0] == "value")
                {
                    if (Value(field, element.GetProperty("value"), where + ".value") is { } value) domain.Values.Add(value);
                }
                else if (forms[0] == "values") ReadValues(domain, element.GetProperty("values"), where + ".values");
                else ReadDistribution(domain, element, where);
                break;
            default:
                if (Value(field, element, where) is { } single) domain.Values.Add(single);
                break;
        }
        if (field.Name == "optimizer" && domain.Distribution is not null)
            Problem(where, null, "optimizers are listed with \"values\"");
        return _problems.Count == problems ? domain : null;
    }

    void ReadValues(Domain domain, JsonElement values, string where)
    {
        if (values.ValueKind != JsonValueKind.Array)
        {
            Problem(where, values, $"must be a list, not {Fields.Kind(values)}");
            return;
        }
        if (values.GetArrayLength() == 0)
        {
            Problem(where, values, "must list at least one value");
            return;
        }
        var i = 0;
        // A set: a list of a million values is checked in seconds, not compared pairwise for hours.
        var distinct = new HashSet<object>();
        foreach (var element in values.EnumerateArray())
        {
            cancellation.ThrowIfCancellationRequested();
            if (Value(domain.Field, element, $"{where}[{i++}]") is { } value && distinct.Add(value))
                domain.Values.Add(value);
        }
    }

    void ReadDistribution(Domain domain, JsonElement element, string where)
    {
        var field = domain.Field;
        var distribution = element.GetProperty("distribution");
        var name = distribution.ValueKind == JsonValueKind.String ? distribution.GetString()! : "";
        if (!Distributions.Contains(name))
        {
            Problem(where + ".distribution", distribution, Fields.Unknown("distribution", name, Distributions));
            return;
        }
        if (_method != "random")
        {
            Problem(where + ".distribution", distribution, "a distribution needs \"method\": \"random\"; a grid takes \"values\"");
            return;
        }
        if (field.Type == ParameterType.Text)
        {
            Problem(where + ".distribution", distribution, $"{field.Name} is a name; list its choices with \"values\"");
            return;
        }
        var integer = name == "int_uniform";
        if (integer != (field.Type == ParameterType.Integer))
        {
            Problem(where + ".distribution", distribution, integer
                ? $"{field.Name} is a real number; use uniform or log_uniform"
                : $"{field.Name} is a whole number; use int_uniform");
            return;
        }
        domain.Distribution = name == "log_uniform_values" ? "log_uniform" : name;
        object? min = null, max = null;
        foreach (var bound in new[] { "min", "max" })
        {
            if (!element.TryGetProperty(bound, out var b))
            {
                Problem($"{where}.{bound}", null, $"missing; {name} draws between min and max");
                continue;
            }
            var value = Value(field, b, $"{where}.{bound}");
            if (bound == "min") min = value; else max = value;
        }
        if (min is null || max is null) return;
        domain.Min = min;
        domain.Max = max;
        var (low, high) = (Convert.ToDouble(min), Convert.ToDouble(max));
        if (integer ? high < low : high <= low)
            Problem(where + ".max", element.GetProperty("max"), $"must be {(integer ? "at least" : "above")} min ({Fields.Format(min)})");
        if (domain.Distribution == "log_uniform" && low <= 0)
            Problem(where + ".min", element.GetProperty("min"), "log_uniform needs min above 0 (min and max are the values themselves, not their logarithms)");
    }

    object? Value(SweepParameter field, JsonElement element, string where)
    {
        var value = Fields.Read(field, element, out var error);
        if (value is null)
        {
            Problem(where, element, error!);
            return null;
        }
        var problems = Fields.Check(field, value, _taskKind, baseDirectory).ToList();
        foreach (var message in problems) Problem(where, element, message);
        return problems.Count == 0 ? value : null;
    }

    // ---- expansion ----

    /// <summary>How many combinations of <paramref name="domains"/>' values there are, exactly (no overflow), without
    /// making them.</summary>
    static BigInteger Combinations(IEnumerable<Domain> domains) => domains.Aggregate(BigInteger.One, (n, d) => n * d.Count);

    /// <summary>The swept fields a trial of <paramref name="optimizer"/> reads: the grid's, with its per_optimizer
    /// entries in their place.</summary>
    List<Domain> Domains(OptimizerKind optimizer) => [.. Swept(optimizer).Where(d => d.Field.UsedBy(optimizer))];

    /// <summary>Every swept field of <paramref name="optimizer"/>'s trials, also those it does not read.</summary>
    IEnumerable<Domain> Swept(OptimizerKind optimizer)
    {
        var overrides = _perOptimizer.GetValueOrDefault(optimizer) ?? [];
        return _parameters.Where(d => d.Field.Name != "optimizer")
            .Select(d => overrides.FirstOrDefault(o => o.Field == d.Field) ?? d)
            .Concat(overrides.Where(o => _parameters.All(d => d.Field != o.Field)));
    }

    TrialDraft Base(OptimizerKind optimizer)
    {
        var draft = new TrialDraft(_taskKind);
        foreach (var (field, value) in _fixed) draft.Set(field, value);
        draft.Set(Fields.Find("optimizer")!, optimizer.Name());
        return draft;
    }

    IEnumerable<(TrialDraft, List<Domain>)> GridDrafts(List<OptimizerKind> optimizers)
    {
        foreach (var optimizer in optimizers)
        {
            var domains = Domains(optimizer);
            IEnumerable<TrialDraft> drafts = [Base(optimizer)];
            foreach (var domain in domains)
            {
                var current = domain;
                drafts = drafts.SelectMany(d => current.Values.Select(v =>
                {
                    var copy = d.Copy();
                    copy.Set(current.Field, v);
                    return copy;
                }));
            }
            foreach (var draft in drafts) yield return (draft, domains);
        }
    }

    IEnumerable<(TrialDraft, List<Domain>)> RandomDrafts(List<OptimizerKind> optimizers, int trials, long seed)
    {
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        for (var i = 0; i < trials; i++)
        {
            var optimizer = optimizers[random.Next(optimizers.Count)];
            var domains = Domains(optimizer);
            var draft = Base(optimizer);
            foreach (var domain in domains) draft.Set(domain.Field, domain.Sample(random));
            yield return (draft, domains);
        }
    }

    static List<KeyValuePair<string, object?>> Config(TrialDraft draft, TrialSpec spec, List<Domain> swept, bool repeated)
    {
        var config = PlannedTrial.OptimizerConfig(spec.Optimizer);
        foreach (var domain in swept)
            if (config.All(c => c.Key != domain.Field.Name)) config.Add(new(domain.Field.Name, AsRun(domain.Field.Name, draft, spec)));
        if (repeated && config.All(c => c.Key != "seed")) config.Add(new("seed", spec.Seed));
        return config;
    }

    /// <summary>A swept value as the trial runs it: CSV paths absolute, model names in lower case.</summary>
    static object? AsRun(string name, TrialDraft draft, TrialSpec spec) => (name, spec.Task) switch
    {
        ("path", CsvTaskSpec csv) => csv.Path,
        ("model", CsvTaskSpec csv) => csv.Model.ToString().ToLowerInvariant(),
        _ => draft.Get(name),
    };

    // ---- reading helpers and problems ----

    string? Text(string key)
    {
        if (!root.TryGetProperty(key, out var value)) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        Problem(key, value, $"must be a string, not {Fields.Kind(value)}");
        return null;
    }

    int? Whole(string key, int? fallback, int min)
    {
        if (!root.TryGetProperty(key, out var value)) return fallback;
        if (!Fields.TryWhole(value, out var n, out var error))
        {
            Problem(key, value, error!);
            return null;
        }
        if (n < min || n > int.MaxValue)
        {
            Problem(key, value, n < min ? $"must be at least {min}" : $"must be at most {int.MaxValue}");
            return null;
        }
        return (int)n;
    }

    void UnknownKey(string where, string key, IEnumerable<string> known, string what)
    {
        var near = Fields.Suggest(key, known);
        Problem(where, null, $"unknown {what}{(near is null ? "" : $"; did you mean \"{near}\"?")}");
    }

    void Problem(string field, JsonElement? value, string message)
    {
        var shown = value is { } v ? Shorten(v.GetRawText()) : null;
        var position = positions.Of(field);
        _problems.Add(new GridProblem(field, shown, message, position?.Line, position?.Column));
    }

    static string Shorten(string json)
    {
        var flat = string.Join(' ', json.Split((char[])['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
        return flat.Length <= 60 ? flat : flat[..57] + "...";
    }
}
