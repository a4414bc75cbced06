using System.Globalization;
using Descent.Sweeps;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Descent.Client.Output;

/// <summary>The terminal: live progress where it is interactive, plain lines where it is not, and the tables.</summary>
public static class Views
{
    /// <summary>Standard output; wide when redirected, so that tables do not wrap in files and pipes.</summary>
    public static IAnsiConsole Out { get; } = Create(Console.Out, Console.IsOutputRedirected);

    static IAnsiConsole Create(TextWriter writer, bool redirected)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
        });
        if (redirected) console.Profile.Width = 200;
        return console;
    }

    public static bool LiveProgress => !Console.IsOutputRedirected && Out.Profile.Capabilities.Interactive;

    /// <summary>One line: <c>5/36 done (4 completed, 1 diverged), 2 running, ETA 45s</c>.</summary>
    public static string Summary(SweepSnapshot snapshot, TimeSpan elapsed)
    {
        var ended = snapshot.Ended;
        var parts = new List<string>();
        foreach (var status in StatusNames.Ends)
            if (snapshot.Count(status) is > 0 and var n) parts.Add($"{n} {status.Name()}");
        var line = $"{ended}/{snapshot.TrialCount} done{(parts.Count > 0 ? $" ({string.Join(", ", parts)})" : "")}, "
            + $"{snapshot.Count(TrialStatus.Running)} running, {snapshot.Count(TrialStatus.Queued)} queued, elapsed {Duration(elapsed)}";
        if (snapshot.Status == SweepStatus.Running && ended > 0 && ended < snapshot.TrialCount)
            line += $", ETA {Duration(elapsed / ended * (snapshot.TrialCount - ended))}";
        return line;
    }

    public static string Duration(TimeSpan t) => t.TotalHours >= 1
        ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{Math.Max(0, (int)t.TotalSeconds)}s";

    /// <summary>What the live display shows: the summary and the running trials with their current loss.</summary>
    public static IRenderable Live(SweepPlan plan, SweepSnapshot snapshot, TimeSpan elapsed, string target, bool cancelling)
    {
        var header = new Markup(
            $"[bold]{Markup.Escape(plan.Name)}[/] [grey]{Markup.Escape(snapshot.Id)} on {Markup.Escape(target)}[/]\n"
            + Markup.Escape(Summary(snapshot, elapsed))
            + (cancelling ? "\n[yellow]cancelling: running trials are stopping; finished results are kept (Ctrl-C again, a second later: quit without waiting for them)[/]" : ""));
        var running = snapshot.Running;
        if (running.Count == 0) return header;
        var table = new Table().Border(TableBorder.Simple).AddColumns("trial", "configuration", "device", "step", "loss");
        foreach (var t in running.Take(20))
        {
            var trial = plan.Find(t.TrialId);
            table.AddRow(Markup.Escape(t.TrialId), Markup.Escape(trial is null ? "" : ConfigText.Configuration(trial.Config)), Markup.Escape(t.Device),
                t.Step.ToString(CultureInfo.InvariantCulture), Loss(t.Loss));
        }
        if (running.Count > 20) table.Caption($"... and {running.Count - 20} more running");
        return new Rows(header, table);
    }

    /// <summary>Why each failed or diverged trial ended, a line each (at most 20), for under the leaderboard. Plain
    /// text: a reason is one long line that a table's width must not wrap.</summary>
    public static IEnumerable<string> EndReasons(SweepResults results)
    {
        var ended = results.Trials.Where(r => r.Status is TrialStatus.Failed or TrialStatus.Diverged).ToList();
        foreach (var r in ended.Take(MaxReasons))
            yield return $"{r.StatusName} {r.Trial.Id} {r.Configuration}: {FirstLine(r.Message ?? "no reason given")}";
        if (ended.Count > MaxReasons) yield return $"... and {ended.Count - MaxReasons} more; every trial's message is in results.json";
    }

    const int MaxReasons = 20;

    /// <summary>A trial's message may carry libtorch's text on the lines after its first (DESCENT_DEBUG=1).</summary>
    static string FirstLine(string message) => message.Split('\n')[0];

    /// <summary>The leaderboard: rank, trial, optimizer with its settings, status, final loss, gradient evaluations, forward passes,
    /// wall seconds, backward share; at most <paramref name="top"/> rows. <paramref name="rest"/> says where the rows and
    /// columns left out are: "in results.json" after a sweep, which wrote one; the leaderboard command writes none.</summary>
    public static Table Leaderboard(SweepResults results, int top, string rest = InResultsFile) => Leaderboard(results, top, Out.Profile.Width, rest);

    /// <summary>Where a sweep's leaderboard sends the reader for what it leaves out.</summary>
    public const string InResultsFile = "in results.json";

    /// <summary>The leaderboard for a console <paramref name="width"/> characters wide: numbers, ids and statuses never
    /// wrap (a wrapped number reads as another number); on a narrow console the columns least needed go first
    /// (forward passes and wall seconds below 150 characters, the backward share below 125), and the caption says so.</summary>
    public static Table Leaderboard(SweepResults results, int top, int width, string rest = InResultsFile)
    {
        var metric = results.Leaderboard.Metric;
        var left = width < 125 ? new[] { "forward passes", "wall s", "backward share" } : width < 150 ? ["forward passes", "wall s"] : [];
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"{Markup.Escape(results.Sweep.Name)}: {results.Sweep.Status.Name()}, ranked by {metric.Name}")
            .AddColumn("rank", c => c.RightAligned().NoWrap())
            .AddColumn("trial", c => c.NoWrap())
            .AddColumn("configuration")
            .AddColumn("status", c => c.NoWrap());
        if (metric.Kind != MetricKind.FinalLoss) table.AddColumn(metric.Name, c => c.RightAligned().NoWrap());
        var numbers = new[] { "final loss", "gradients", "forward passes", "wall s", "backward share" }.Where(n => !left.Contains(n)).ToList();
        foreach (var name in numbers) table.AddColumn(name, c => c.RightAligned().NoWrap());
        foreach (var entry in results.Leaderboard.Rows.Take(top))
        {
            var row = results.Row(entry.TrialId);
            var result = row?.Record?.Result;
            var cells = new List<string>
            {
                entry.Rank.ToString(CultureInfo.InvariantCulture), entry.TrialId,
                Markup.Escape(row?.Configuration ?? ""), entry.Status.Name(),
            };
            if (metric.Kind != MetricKind.FinalLoss) cells.Add(entry.MetricValue is { } v ? v.ToString("g4", CultureInfo.InvariantCulture) : "not reached");
            var values = new Dictionary<string, string>
            {
                ["final loss"] = Loss(entry.FinalLoss),
                ["gradients"] = result?.GradientEvaluations.ToString(CultureInfo.InvariantCulture) ?? "",
                ["forward passes"] = result?.ForwardPasses.ToString(CultureInfo.InvariantCulture) ?? "",
                ["wall s"] = result?.WallSeconds.ToString("F2", CultureInfo.InvariantCulture) ?? "",
                ["backward share"] = result is { } r && double.IsFinite(r.BackwardShare) ? r.BackwardShare.ToString("P0", CultureInfo.InvariantCulture) : "",
            };
            cells.AddRange(numbers.Select(n => values[n]));
            table.AddRow([.. cells]);
        }
        var notes = new List<string>();
        if (results.Leaderboard.Rows.Count > top) notes.Add($"{results.Leaderboard.Rows.Count - top} more rows {rest}");
        if (left.Length > 0) notes.Add($"{string.Join(", ", left)}: {rest} (a wider terminal shows them)");
        if (notes.Count > 0) table.Caption(string.Join("; ", notes));
        return table;
    }

    public static string Loss(double? loss) => loss switch
    {
        null => "",
        { } l when double.IsNaN(l) => "nan",
        { } l => l.ToString("g5", CultureInfo.InvariantCulture),
    };
}
