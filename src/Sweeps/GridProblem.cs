namespace Descent.Sweeps;

/// <summary>One thing wrong with a grid file: where (the field's path, and its line and column when the file has
/// it), the value found there, and why it cannot run.</summary>
public sealed record GridProblem(string Field, string? Value, string Message, int? Line = null, int? Column = null)
{
    public override string ToString()
    {
        var where = Line is { } line ? $"line {line}, column {Column}: " : "";
        var value = Value is null ? "" : $" = {Value}";
        return $"{where}{Field}{value}: {Message}";
    }
}

/// <summary>Thrown by <see cref="GridFile"/> when the file cannot run; lists every problem, in file order.</summary>
public sealed class GridException(string path, IEnumerable<GridProblem> problems) : Exception
{
    public string Path { get; } = path;
    public IReadOnlyList<GridProblem> Problems { get; } = [.. problems.OrderBy(p => p.Line ?? 0).ThenBy(p => p.Column ?? 0)];
    public override string Message => $"{Path}: {string.Join("; ", Problems)}";
}
