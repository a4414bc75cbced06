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
public sealed record SweepPlan(
    string Name,
    string Method,
    RankMetric Metric,
    int MaxRetries,
    IReadOnlyList<PlannedTrial> Trials,
    double Expanded)
{
    /// <summary>Combinations that train the same as another and became one trial.</summary>
    public double Collapsed => Expanded - Trials.Count;

    public SweepSpec ToSweepSpec() => new(Name, [.. Trials.Select(t => t.Spec)], Metric, MaxRetries);

    public PlannedTrial? Find(string trialId) => Trials.FirstOrDefault(t => t.Id == trialId);
}

/// <summary>Plans rebuilt from a submitted <see cref="SweepSpec"/> (for sweeps this client did not start).</summary>
public static class SweepPlans
{
    /// <summary>The plan of <paramref name="spec"/>: each trial's configuration shows the optimizer's settings, the
    /// seed, and every task or budget field that differs between trials.</summary>
    public static SweepPlan FromSpec(SweepSpec spec)
    {
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
