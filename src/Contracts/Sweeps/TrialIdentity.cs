using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Descent.Contracts.Trials;

namespace Descent.Contracts.Sweeps;

/// <summary>A trial's id, derived from everything that decides its trajectory (task, optimizer with the
/// hyper-parameters it reads, budget, seed): a retried or resubmitted trial gets the same id.</summary>
public static class TrialIdentity
{
    public static string Of(TrialSpec spec)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(spec)));
        return Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }

    /// <summary>A stable text form of the spec (invariant culture, round-trip numbers, fixed field order).</summary>
    public static string Canonical(TrialSpec spec)
    {
        var o = spec.Optimizer.Normalized();
        var task = spec.Task switch
        {
            SyntheticTaskSpec s => Join("synthetic", s.NRow, s.DimIn, s.DimHidden, s.NLayers),
            LinearTaskSpec l => Join("linear", l.NRow, l.Features, l.Noise),
            CsvTaskSpec c => Join("csv", c.Path, c.Target, c.Model, c.DimHidden, c.NLayers),
            _ => throw new ArgumentException($"task.kind = \"{spec.Task.Kind}\": no such task"),
        };
        return string.Join("|", task,
            Join(o.Kind.Name(), o.Lr, o.MaxSteps, o.ScaleI, o.Variant.Name(), o.HistorySize, o.MaxParameters),
            Join("budget", spec.Budget.Steps, spec.Budget.Seconds, spec.Budget.TargetLoss),
            Join("seed", spec.Seed));
    }

    static string Join(params object?[] parts) => string.Join(",", parts.Select(p => p switch
    {
        null => "-",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => p.ToString(),
    }));
}
