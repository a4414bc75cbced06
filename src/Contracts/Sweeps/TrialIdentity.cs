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

    /// <summary>The parameters ids have had from the start, each written at its place in its part whatever its value.
    /// Never add to this list: a parameter added to <see cref="SweepParameters"/> later joins its part as
    /// <c>name=value</c>, and only when its value is not the default, so that no existing id changes.</summary>
    static readonly HashSet<string> Positional =
    [
        "optimizer", "lr", "max_steps", "scale_i", "variant", "history_size", "max_parameters",
        "n_row", "dim_in", "k", "noise", "path", "target", "model", "dim_hidden", "n_layers", "seed",
        "steps", "seconds", "target_loss",
    ];

    /// <summary>A stable text form of the spec (invariant culture, round-trip numbers, the parameters in
    /// <see cref="SweepParameters"/>' order): <c>task kind,fields|optimizer,hyper-parameters|budget,fields|seed,seed</c>.</summary>
    public static string Canonical(TrialSpec spec)
    {
        if (!SweepParameters.TaskKinds.Contains(spec.Task.Kind)) throw new ArgumentException($"task.kind = \"{spec.Task.Kind}\": no such task");
        spec = spec with { Optimizer = spec.Optimizer.Normalized() };
        return string.Join("|",
            Part(spec, spec.Task.Kind, SweepParameters.Task.Where(p => p.AppliesTo(spec.Task.Kind))),
            Part(spec, null, SweepParameters.Optimizer),
            Part(spec, "budget", SweepParameters.Budget),
            Part(spec, "seed", SweepParameters.Trial));
    }

    static string Part(TrialSpec spec, string? head, IEnumerable<SweepParameter> parameters)
    {
        var values = new List<object?>();
        if (head is not null) values.Add(head);
        foreach (var p in parameters)
        {
            var value = p.Get(spec);
            // Ids spell a csv model as its enum does (Linear, Mlp); results write it in lower case.
            if (p.Name == "model" && spec.Task is CsvTaskSpec csv) value = csv.Model;
            if (Positional.Contains(p.Name)) values.Add(value);
            else if (!Equals(value, p.Default)) values.Add($"{p.Name}={Text(value)}");
        }
        return string.Join(",", values.Select(Text));
    }

    static string Text(object? value) => value switch
    {
        null => "-",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
