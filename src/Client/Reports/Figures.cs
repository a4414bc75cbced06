using Descent.Contracts.Trials;
using Descent.Results;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Descent.Client.Reports;

/// <summary>
/// The post's figure and two more, drawn from results.json with ScottPlot: mean squared error against wall-clock
/// time and against gradient evaluations (one line per trial, log scale; each trial with its own colour, line pattern
/// and markers, so that none hides another), and each trial's backward share. Each is written as PNG and SVG next to
/// results.json.
/// </summary>
public static class Figures
{
    public const string LossVsTime = "loss_vs_time", LossVsGradients = "loss_vs_gradients", BackwardShare = "backward_share";
    public static readonly string[] Names = [LossVsTime, LossVsGradients, BackwardShare];
    const int Width = 1400, Height = 700;

    /// <summary>More lines or bars than these cannot be told apart: large sweeps show their best-ranked trials.</summary>
    const int MaxLines = 20, MaxBars = 40;

    /// <summary>At most <paramref name="count"/> trials, in leaderboard order (all of them, in sweep order, when they fit).</summary>
    static List<TrialEntry> Shown(ResultsFile results, int count)
    {
        if (results.Trials.Count <= count) return [.. results.Trials];
        var byId = results.Trials.ToDictionary(t => t.Id);
        return [.. results.Leaderboard.Select(r => byId.GetValueOrDefault(r.Trial)).OfType<TrialEntry>().Take(count)];
    }

    static string Subset(ResultsFile results, int shown) =>
        shown < results.Trials.Count ? $" (best {shown} of {results.Trials.Count} by {results.Metric})" : "";

    /// <summary>A sans-serif face where the machine has one (DejaVu Sans on Debian), else ScottPlot's default.</summary>
    static readonly string SansSerif = new[] { "DejaVu Sans", "Liberation Sans", "Arial" }
        .FirstOrDefault(name => Fonts.GetTypeface(name, bold: false, italic: false) is { } face && face.FamilyName == name) ?? Fonts.Default;

    /// <summary>Draws the three figures into <paramref name="directory"/>; returns the files written.</summary>
    public static IReadOnlyList<string> Draw(ResultsFile results, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        files.AddRange(Save(LossPlot(results, "time (s)", p => p.ElapsedSeconds, "mean squared error against wall-clock time"), directory, LossVsTime));
        var gradients = LossPlot(results, "gradient evaluations", p => p.GradientEvaluations, "mean squared error against gradient evaluations");
        gradients.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true };
        files.AddRange(Save(gradients, directory, LossVsGradients));
        files.AddRange(Save(SharePlot(results), directory, BackwardShare));
        return files;
    }

    static Plot LossPlot(ResultsFile results, string xLabel, Func<StepRecord, double> x, string title)
    {
        var plot = new Plot();
        var drawn = 0;
        var shown = Shown(results, MaxLines);
        var (low, high) = (double.MaxValue, double.MinValue);
        var legend = new List<LegendItem>();
        foreach (var trial in shown)
        {
            var points = Points(trial, x);
            if (points.Count == 0) continue;
            low = Math.Min(low, points.Min(p => Math.Log10(p.Loss)));
            high = Math.Max(high, points.Max(p => Math.Log10(p.Loss)));
            var style = LineStyle(drawn, shown.Count);
            var line = plot.Add.ScatterLine(points.Select(p => p.X).ToArray(), points.Select(p => Math.Log10(p.Loss)).ToArray());
            line.LineWidth = style.Width;
            line.LinePattern = style.Pattern;
            line.Color = style.Color;
            // Markers at a few points, placed differently for each trial: a curve drawn exactly under another still shows.
            var marked = MarkerIndices(points.Count, drawn, shown.Count);
            var markers = plot.Add.ScatterPoints(marked.Select(i => points[i].X).ToArray(), marked.Select(i => Math.Log10(points[i].Loss)).ToArray());
            markers.MarkerShape = style.Marker;
            markers.MarkerSize = MarkerSize;
            markers.Color = style.Color;
            legend.Add(new LegendItem
            {
                LabelText = Label(trial),
                LineColor = style.Color,
                LineWidth = style.Width,
                LinePattern = style.Pattern,
                MarkerShape = style.Marker,
                MarkerSize = MarkerSize,
                MarkerFillColor = style.Color,
                MarkerLineColor = style.Color,
            });
            drawn++;
        }
        plot.Legend.ManualItems.AddRange(legend);
        // Ticks at powers of ten when the losses span decades; within one decade, plain values.
        var decades = high - low >= 1.5;
        plot.Axes.Left.TickGenerator = new NumericAutomatic
        {
            MinorTickGenerator = decades ? new LogMinorTickGenerator() : new EvenlySpacedMinorTickGenerator(5),
            IntegerTicksOnly = decades,
            LabelFormatter = y => decades ? $"1e{y:0}" : Math.Pow(10, y).ToString("g3", System.Globalization.CultureInfo.InvariantCulture),
        };
        Style(plot, title + Subset(results, shown.Count), results, xLabel, "mean squared error (log scale)");
        if (drawn == 0) plot.Add.Annotation("no trial recorded a positive, finite loss");
        return plot;
    }

    const float MarkerSize = 9;

    /// <summary>Ten distinct hues, Tableau's (matplotlib's tab10) with its pale orange, pink, olive and cyan replaced
    /// by darker ones: every one has at least 3:1 contrast on white (WCAG's bar for graphics), which Category20's pale
    /// halves do not.</summary>
    static readonly Color[] LineColors =
    [
        Color.FromHex("#1F77B4"), Color.FromHex("#D95F02"), Color.FromHex("#2CA02C"), Color.FromHex("#D62728"), Color.FromHex("#9467BD"),
        Color.FromHex("#8C564B"), Color.FromHex("#000000"), Color.FromHex("#7F7F7F"), Color.FromHex("#808000"), Color.FromHex("#00838F"),
    ];

    static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];

    static readonly MarkerShape[] Markers =
    [
        MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleDown,
        MarkerShape.OpenCircle, MarkerShape.OpenSquare, MarkerShape.OpenTriangleUp, MarkerShape.OpenDiamond, MarkerShape.Cross, MarkerShape.Eks,
    ];

    /// <summary>The <paramref name="index"/>-th curve's look: a colour, a line pattern and a marker, so that no two of
    /// <see cref="MaxLines"/> curves look alike; a curve drawn later is thinner, so that one exactly on top of an
    /// earlier one leaves the earlier one's edges showing.</summary>
    internal static (Color Color, LinePattern Pattern, MarkerShape Marker, float Width) LineStyle(int index, int count) =>
        (LineColors[index % LineColors.Length], Patterns[index % Patterns.Length], Markers[index % Markers.Length],
         count <= 1 ? 2.5f : 4f - 2.5f * index / (count - 1));

    /// <summary>Which of a curve's <paramref name="points"/> carry a marker: about six, shifted for each of
    /// <paramref name="count"/> curves so that identical curves put theirs at different places.</summary>
    internal static List<int> MarkerIndices(int points, int index, int count)
    {
        const int PerCurve = 6;
        var stride = (double)points / PerCurve;
        var shift = stride * (index + 0.5) / Math.Max(count, 1);
        return [.. Enumerable.Range(0, PerCurve).Select(m => (int)Math.Floor(m * stride + shift)).Where(i => i < points).Distinct()];
    }

    /// <summary>A trial's curve: the loss at the start of step k+1 (history[k]) where step k ended (history[k-1]; the
    /// start, 0, for the first), then the final loss where the last step ended. Only positive, finite losses (log
    /// scale). The post's loop pairs each loss with the time after the following step: one step later than here.</summary>
    internal static List<(double X, double Loss)> Points(TrialEntry trial, Func<StepRecord, double> x)
    {
        var points = new List<(double X, double Loss)>();
        for (var k = 0; k < trial.History.Count; k++)
            points.Add((k == 0 ? 0 : x(trial.History[k - 1]), trial.History[k].Loss));
        if (trial.History.Count > 0) points.Add((x(trial.History[^1]), trial.FinalLoss ?? double.NaN));
        return [.. points.Where(p => p.Loss > 0 && double.IsFinite(p.Loss))];
    }

    static Plot SharePlot(ResultsFile results)
    {
        var plot = new Plot();
        var trials = Shown(results, MaxBars).Where(t => t.BackwardShare is { } s && double.IsFinite(s)).ToList();
        // Horizontal bars, the first trial on top, so that long configurations read as plain labels.
        var bars = trials.Select((t, i) => new Bar { Position = trials.Count - 1 - i, Value = t.BackwardShare!.Value * 100, FillColor = Colors.SteelBlue }).ToList();
        var barPlot = plot.Add.Bars(bars);
        barPlot.Horizontal = true;
        plot.Axes.Left.SetTicks([.. trials.Select((_, i) => (double)(trials.Count - 1 - i))], [.. trials.Select(Label)]);
        plot.Axes.SetLimitsX(0, 100);
        var post = plot.Add.VerticalLine(80);
        post.LinePattern = LinePattern.Dashed;
        post.Color = Colors.Gray;
        post.LegendText = "the post's ~80%";
        Style(plot, "backward pass as a share of forward + backward time" + Subset(results, Math.Min(results.Trials.Count, MaxBars)), results, "backward share (%); optimizer probes count as forward time", "");
        if (trials.Count == 0) plot.Add.Annotation("no trial measured forward and backward time");
        return plot;
    }

    static void Style(Plot plot, string title, ResultsFile results, string xLabel, string yLabel)
    {
        plot.Font.Set(SansSerif);
        // Manual legend items keep their own font unless told.
        plot.Legend.FontName = SansSerif;
        plot.Title($"{results.Sweep.Name}: {title}");
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
    }

    /// <summary>A trial's legend entry: its configuration, and its status when it did not complete.</summary>
    static string Label(TrialEntry trial) => trial.Status == TrialStatus.Completed ? trial.Configuration : $"{trial.Configuration} ({trial.Status.Name()})";

    static IEnumerable<string> Save(Plot plot, string directory, string name)
    {
        var png = Path.Combine(directory, name + ".png");
        var svg = Path.Combine(directory, name + ".svg");
        Output.AtomicFile.Write(png, (string temporary) => plot.SavePng(temporary, Width, Height));
        Output.AtomicFile.Write(svg, (string temporary) => WithoutDashes(plot, () => plot.SaveSvg(temporary, Width, Height)));
        return [png, svg];
    }

    /// <summary>Runs <paramref name="save"/> with every line of <paramref name="plot"/> solid: Skia's SVG canvas draws no
    /// dash patterns, and prints "Unsupported path effect in addPaint" on standard error for each dashed line. The SVG
    /// tells trials apart by colour and marker; the PNG has the patterns too.</summary>
    static void WithoutDashes(Plot plot, Action save)
    {
        var lines = plot.GetPlottables().OfType<IHasLine>().Where(l => !l.LinePattern.Equals(LinePattern.Solid)).Select(l => (Line: l, l.LinePattern)).ToList();
        var items = plot.Legend.ManualItems.Where(i => !i.LinePattern.Equals(LinePattern.Solid)).Select(i => (Item: i, i.LinePattern)).ToList();
        foreach (var (line, _) in lines) line.LinePattern = LinePattern.Solid;
        foreach (var (item, _) in items) item.LinePattern = LinePattern.Solid;
        try { save(); }
        finally
        {
            foreach (var (line, pattern) in lines) line.LinePattern = pattern;
            foreach (var (item, pattern) in items) item.LinePattern = pattern;
        }
    }
}
