using System.Globalization;

namespace Descent.Contracts.Trials;

/// <summary>One thing wrong with a specification: the field (as grid files spell it), its value, and why.</summary>
[GenerateSerializer, Immutable, Alias("descent.spec-problem")]
public sealed record SpecProblem(
    [property: Id(0)] string Field,
    [property: Id(1)] string Value,
    [property: Id(2)] string Message)
{
    /// <summary>A problem with <paramref name="value"/> shown as grid files would write it.</summary>
    public static SpecProblem Of(string field, object? value, string message) => new(field, Format(value), message);

    public override string ToString() => $"{Field} = {Value}: {Message}";

    static string Format(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

/// <summary>Thrown when a specification has problems; the message lists every one. Crosses the wire intact.</summary>
[GenerateSerializer, Alias("descent.spec-exception")]
public sealed class SpecException : Exception
{
    public SpecException(IReadOnlyList<SpecProblem> problems) : base(string.Join("; ", problems)) => Problems = problems;

    [Id(0)] public IReadOnlyList<SpecProblem> Problems { get; private set; }
}
