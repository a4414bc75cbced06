using System.Globalization;

/// <summary>Formatting and statistics shared by the benchmarks.</summary>
static class Bench
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static string F(double value, int digits) => value.ToString("F" + digits, CultureInfo.InvariantCulture);
    public static string P(double share) => (100 * share).ToString("F1", CultureInfo.InvariantCulture) + "%";

    public static void Table(string[] header, IReadOnlyList<string[]> rows)
    {
        var widths = header.Select((h, c) => Math.Max(h.Length, rows.Max(r => r[c].Length))).ToArray();
        string Line(string[] cells) => "  " + string.Join("  ", cells.Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c])));
        Console.WriteLine(Line(header));
        foreach (var r in rows) Console.WriteLine(Line(r));
        Console.WriteLine();
    }
}
