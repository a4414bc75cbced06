using System.Globalization;

namespace Descent.Contracts.Trials;

/// <summary>The one way a trial's configuration is written, in tables, legends, reports, the leaderboard's
/// <c>optimizer</c> (<see cref="OptimizerSpec.ToString"/>) and trial spans, whether it comes from a spec, a plan or
/// results.json: the optimizer, then its settings without the nulls, variant last; whole numbers as they are, other
/// numbers to four significant digits: <c>keep-stepping lr=0.001 max_steps=50 scale_i=2 variant=seed</c>.</summary>
public static class ConfigText
{
    /// <summary>The optimizer, then its settings: <c>sgd lr=0.001</c>; <paramref name="config"/> as a plan or
    /// results.json has it (<c>optimizer</c> and the other keys in any order, nulls where not read).</summary>
    public static string Configuration(IEnumerable<KeyValuePair<string, object?>> config)
    {
        var pairs = config.ToList();
        var optimizer = pairs.FirstOrDefault(c => c.Key == "optimizer").Value;
        return $"{optimizer} {Settings(pairs)}".Trim();
    }

    /// <summary>The settings without the optimizer: <c>lr=0.001 max_steps=50</c>.</summary>
    public static string Settings(IEnumerable<KeyValuePair<string, object?>> config) =>
        string.Join(" ", config.Where(c => c.Key != "optimizer" && c.Value is not null)
            .OrderBy(c => c.Key == "variant").Select(c => $"{c.Key}={Value(c.Value)}"));

    /// <summary>One value as a configuration shows it: <c>50</c>, <c>0.0001913</c>, <c>seed</c>.</summary>
    public static string Value(object? value) => value switch
    {
        double d when Math.Floor(d) == d && Math.Abs(d) < 1e15 => ((long)d).ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("g4", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "",
    };
}
