using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;

namespace Descent.Sweeps;

/// <summary>One trial of a plan: its spec and id, and its configuration as results show it: <c>optimizer</c>,
/// <c>variant</c>, <c>lr</c>, <c>max_steps</c>, <c>scale_i</c> (null where the optimizer does not read it), then every
/// other field the grid sweeps, in the grid's order.</summary>
public sealed record PlannedTrial(string Id, TrialSpec Spec, IReadOnlyList<KeyValuePair<string, object?>> Config)
{
    /// <summary>The configuration's first keys, always present: <c>optimizer</c>, <c>variant</c>, <c>lr</c>,
    /// <c>max_steps</c>, <c>scale_i</c>, each null where the optimizer does not read it
    /// (<see cref="SweepParameter.AlwaysInConfig"/>).</summary>
    public static List<KeyValuePair<string, object?>> OptimizerConfig(OptimizerSpec o) => SweepParameters.OptimizerConfig(o);
}

/// <summary>A grid file, checked and expanded: what a sweep submits.</summary>
/// <param name="Expanded">Trials before equal ones collapsed: every combination of a grid (settings an optimizer does not
/// read make copies), every draw of a random search, times the repeats (a double: absurd grids pass 2⁶³).</param>
/// <param name="Source">The grid file's text and folder (null for a plan rebuilt from a submitted spec).</param>
/// <param name="Repeats">How many consecutive seeds each configuration runs under (the grid's <c>repeats</c>).</param>
public sealed record SweepPlan(
    string Name,
    string Method,
    RankMetric Metric,
    int MaxRetries,
    IReadOnlyList<PlannedTrial> Trials,
    double Expanded,
    (string Grid, string Folder)? Source = null,
    int Repeats = 1)
{
    /// <summary>Combinations that train the same as another and became one trial.</summary>
    public double Collapsed => Expanded - Trials.Count;

    /// <summary>What the coordinator receives: the trials' specs, and the plan (the grid and each trial's config).</summary>
    public SweepSpec ToSweepSpec() => new(Name, [.. Trials.Select(t => t.Spec)], Metric, MaxRetries,
        new SweepPlanSource(Source?.Grid ?? "", Source?.Folder ?? "", Method, [.. Trials.Select(t => ConfigJson.Write(t.Config))]));

    public PlannedTrial? Find(string trialId) => _byId.Value.GetValueOrDefault(trialId);

    readonly Lazy<Dictionary<string, PlannedTrial>> _byId = new(() => Trials.ToDictionary(t => t.Id));
}

/// <summary>Plans rebuilt from a submitted <see cref="SweepSpec"/> (for sweeps this client did not start).</summary>
public static class SweepPlans
{
    /// <summary>The plan of <paramref name="spec"/>: each trial's configuration shows the optimizer's settings, the
    /// seed, and every task or budget field that differs between trials.</summary>
    public static SweepPlan FromSpec(SweepSpec spec)
    {
        if (spec.Plan is { } plan && plan.Configs.Count == spec.Trials.Count)
        {
            // The configurations the sweep was submitted with: the same rules, the same columns, as the sweep showed.
            var submitted = spec.Trials.Select((s, i) => new PlannedTrial(TrialIdentity.Of(s), s, ConfigJson.Read(plan.Configs[i])))
                .DistinctBy(t => t.Id).ToList();
            return new SweepPlan(spec.Name, plan.Method, spec.Metric, spec.MaxRetries, submitted, spec.Trials.Count,
                plan.Grid.Length > 0 ? (plan.Grid, plan.Folder) : null);
        }
        var specs = spec.Trials.DistinctBy(TrialIdentity.Of).ToList();
        var fields = specs.Select(s => SweepParameters.TaskFields(s).Concat(SweepParameters.BudgetFields(s)).ToList()).ToList();
        var varying = fields.SelectMany(f => f.Select(p => p.Key)).Distinct()
            .Where(key => fields.Select(f => f.FirstOrDefault(p => p.Key == key).Value).Distinct().Count() > 1).ToList();
        var trials = specs.Select((s, i) =>
        {
            var config = SweepParameters.OptimizerConfig(s.Optimizer, complete: true);
            config.AddRange(fields[i].Where(p => varying.Contains(p.Key)));
            return new PlannedTrial(TrialIdentity.Of(s), s, config);
        }).ToList();
        return new SweepPlan(spec.Name, "submitted", spec.Metric, spec.MaxRetries, trials, spec.Trials.Count);
    }
}

/// <summary>A trial's configuration as one JSON object (strings, whole numbers, other numbers, nulls, in order), the form
/// in which a sweep's plan travels with its spec, and in which results.json and trials.jsonl hold it (and a trial's task).</summary>
public static class ConfigJson
{
    public static string Write(IEnumerable<KeyValuePair<string, object?>> config)
    {
        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer)) Write(json, config);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Writes <paramref name="config"/> as one object to <paramref name="json"/>; numbers that are not finite as null.</summary>
    public static void Write(System.Text.Json.Utf8JsonWriter json, IEnumerable<KeyValuePair<string, object?>> config)
    {
        json.WriteStartObject();
        foreach (var (key, value) in config)
        {
            switch (value)
            {
                case null: json.WriteNull(key); break;
                case string s: json.WriteString(key, s); break;
                case double d when double.IsFinite(d): json.WriteNumber(key, d); break;
                case double: json.WriteNull(key); break;
                case float f: json.WriteNumber(key, f); break;
                case int i: json.WriteNumber(key, i); break;
                case long l: json.WriteNumber(key, l); break;
                default: json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            }
        }
        json.WriteEndObject();
    }

    /// <summary>The pairs of <see cref="Write(IEnumerable{KeyValuePair{string, object?}})"/>'s text: strings, whole numbers
    /// as longs, other numbers as doubles.</summary>
    public static IReadOnlyList<KeyValuePair<string, object?>> Read(string text)
    {
        using var document = System.Text.Json.JsonDocument.Parse(text);
        return Read(document.RootElement);
    }

    /// <summary>The pairs of an object <paramref name="element"/> (see <see cref="Read(string)"/>); other values are null.</summary>
    public static IReadOnlyList<KeyValuePair<string, object?>> Read(System.Text.Json.JsonElement element) =>
        [.. element.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, p.Value.ValueKind switch
        {
            System.Text.Json.JsonValueKind.String => p.Value.GetString(),
            System.Text.Json.JsonValueKind.Number when p.Value.TryGetInt64(out var whole) => whole,
            System.Text.Json.JsonValueKind.Number => p.Value.GetDouble(),
            _ => null,
        }))];
}
