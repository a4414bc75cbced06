using System.Globalization;
using System.Text;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Client.Reports;

/// <summary>
/// The sweep's report in Markdown: the leaderboard, the figures, and the post's claims tested on this sweep with
/// the numbers of its results.json: the backward share; whether Newton reached the least-squares fit in one step;
/// which K-optimizer configurations reached the target loss before Adam and SGD, in time and in gradient evaluations.
/// </summary>
public static class Report
{
    public const string FileName = "report.md";

    /// <summary>The post's measurement: "about 80%" of a training step is the backward pass.</summary>
    public const double PostBackwardShare = 0.80;

    static readonly string[] Baselines = ["adam", "sgd"];
    static readonly string[] KOptimizers = ["keep-stepping", "keep-vaulting"];

    /// <summary>The loss both Adam and SGD reach, unless a target is given: the largest final loss among their
    /// completed trials (null when there is none).</summary>
    public static double? DefaultTarget(ResultsFile results)
    {
        if (results.Sweep.MetricTarget is { } target) return target;
        var finals = results.Trials.Where(t => Baselines.Contains(t.Optimizer) && t.Status == TrialStatus.Completed && t.FinalLoss is { } f && double.IsFinite(f))
            .Select(t => t.FinalLoss!.Value).ToList();
        return finals.Count > 0 ? finals.Max() : null;
    }

    /// <summary>Writes report.md (and the figures it shows) next to results.json; returns its path.</summary>
    public static string Write(ResultsFile results, double? target)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(results.Path))!;
        Figures.Draw(results, directory);
        var path = Path.Combine(directory, FileName);
        var text = Render(results, target ?? DefaultTarget(results));
        Output.AtomicFile.Write(path, (string temporary) => File.WriteAllText(temporary, text, new UTF8Encoding(false)));
        return path;
    }

    public static string Render(ResultsFile results, double? target)
    {
        var md = new StringBuilder();
        md.AppendLine($"# {results.Sweep.Name}");
        md.AppendLine();
        var source = System.IO.Path.GetFileName(results.Path);
        md.AppendLine($"Sweep `{results.Sweep.Id}`: {results.Status}, "
            + (results.Unfinished ? $"{results.Trials.Count} of its {results.Sweep.TrialCount} trials ended " : $"{results.Trials.Count} trials ")
            + $"({Counts(results)}), ranked by `{results.Metric}`. Numbers from [{source}]({source})"
            + (results.Unfinished ? ": the trials that had ended when its client stopped before writing results.json." : "."));
        md.AppendLine();
        Leaderboard(md, results);
        md.AppendLine("## Figures");
        md.AppendLine();
        md.AppendLine("![mean squared error against wall-clock time](loss_vs_time.png)");
        md.AppendLine();
        md.AppendLine("![mean squared error against gradient evaluations](loss_vs_gradients.png)");
        md.AppendLine();
        md.AppendLine("![backward share per trial](backward_share.png)");
        md.AppendLine();
        md.AppendLine("## The post's claims, tested on this sweep");
        md.AppendLine();
        BackwardShare(md, results);
        Newton(md, results);
        MoreDescent(md, results, target);
        return md.ToString();
    }

    static string Counts(ResultsFile results) =>
        string.Join(", ", results.Trials.GroupBy(t => t.Status.Name()).OrderBy(g => g.Key).Select(g => $"{g.Count()} {g.Key}"));

    static void Leaderboard(StringBuilder md, ResultsFile results)
    {
        md.AppendLine("## Leaderboard");
        md.AppendLine();
        var metric = results.Metric != "final_loss";
        md.AppendLine($"| rank | trial | configuration | status |{(metric ? $" {results.Metric} |" : "")} final loss | gradient evaluations | wall s | backward share |");
        md.AppendLine($"|---:|---|---|---|{(metric ? "---:|" : "")}---:|---:|---:|---:|");
        var byId = results.Trials.ToDictionary(t => t.Id);
        foreach (var row in results.Leaderboard)
        {
            var t = byId.GetValueOrDefault(row.Trial);
            md.AppendLine($"| {row.Rank} | `{row.Trial}` | {t?.Configuration} | {row.Status.Name()} |"
                + (metric ? $" {Number(row.Value(results.Sweep.Metric))} |" : "")
                + $" {Number(row.FinalLoss)} | {t?.GradientEvaluations} | {Fixed(t?.WallSeconds)} | {Percent(t?.BackwardShare)} |");
        }
        md.AppendLine();
    }

    static void BackwardShare(StringBuilder md, ResultsFile results)
    {
        md.AppendLine("### \"About 80% of the time goes to computing gradients\"");
        md.AppendLine();
        var plain = results.Trials.Where(t => Baselines.Contains(t.Optimizer) && t.BackwardSeconds > 0 && t.ForwardSeconds > 0).ToList();
        if (plain.Count == 0)
        {
            md.AppendLine("No Adam or SGD trial measured its forward and backward time, so this sweep cannot test it.");
            md.AppendLine();
            return;
        }
        var forward = plain.Sum(t => t.ForwardSeconds!.Value);
        var backward = plain.Sum(t => t.BackwardSeconds!.Value);
        var share = backward / (forward + backward);
        var shares = plain.Select(t => t.BackwardShare ?? double.NaN).Where(double.IsFinite).ToList();
        md.AppendLine($"Over the {plain.Count} Adam and SGD trials (one forward and one backward pass per step), the backward pass took "
            + $"**{Percent(share)}** of forward plus backward time ({Fixed(backward)} s of {Fixed(forward + backward)} s; "
            + $"per trial {Percent(shares.Min())} to {Percent(shares.Max())}). The post measured about {PostBackwardShare * 100:0}%: "
            + (Math.Abs(share - PostBackwardShare) <= 0.05 ? "confirmed here." : share < PostBackwardShare
                ? "here the backward pass is a smaller share, so each saved gradient saves less than the post assumed."
                : "here the backward pass is an even larger share."));
        md.AppendLine();
        var k = results.Trials.Where(t => KOptimizers.Contains(t.Optimizer) && t.BackwardShare is { } s && double.IsFinite(s)).ToList();
        if (k.Count > 0)
            md.AppendLine($"The K-optimizers' loss-only probes count as forward time; their backward share was {Percent(k.Min(t => t.BackwardShare!.Value))} "
                + $"to {Percent(k.Max(t => t.BackwardShare!.Value))}: they trade gradients for forward passes.");
        md.AppendLine();
    }

    /// <summary>Newton's first step lands on the least-squares fit when the loss after it is the best the trial ever
    /// saw: later steps, from the optimum, cannot improve it.</summary>
    static void Newton(StringBuilder md, ResultsFile results)
    {
        md.AppendLine("### \"Newton's method solves linear regression in one step\"");
        md.AppendLine();
        var newton = results.Trials.Where(t => t.Optimizer == "newton").ToList();
        if (newton.Count == 0)
        {
            md.AppendLine("No `newton` trial in this sweep.");
            md.AppendLine();
            return;
        }
        md.AppendLine("| trial | task | status | loss before | loss after one step | best loss | one step? |");
        md.AppendLine("|---|---|---|---:|---:|---:|---|");
        foreach (var t in newton)
        {
            double? before = t.History.Count > 0 ? t.History[0].Loss : null;
            var after = t.History.Count > 1 ? t.History[1].Loss : t.FinalLoss;
            var best = t.History.Select(h => h.Loss).Append(t.FinalLoss ?? double.NaN).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min();
            var oneStep = t.History.Count == 0 ? "n/a (no step)"
                : after is { } a && double.IsFinite(best) && a <= best * (1 + 1e-6) + 1e-12 ? "yes" : "no";
            md.AppendLine($"| `{t.Id}` | {TaskLine(t).Replace("|", "\\|")} | {t.Status.Name()} | {Number(before)} | {Number(after)} | {Number(best)} | {oneStep} |");
        }
        md.AppendLine();
        md.AppendLine("\"yes\": the loss after the first step is the lowest the trial reached (within 1e-6 relative), so no later step improved on it.");
        md.AppendLine();
    }

    static void MoreDescent(StringBuilder md, ResultsFile results, double? target)
    {
        md.AppendLine("### \"More descent, less gradient\": K-optimizers against Adam and SGD");
        md.AppendLine();
        var k = results.Trials.Where(t => KOptimizers.Contains(t.Optimizer)).ToList();
        if (target is not { } goal)
        {
            md.AppendLine("No target loss: give `--target`, a metric target, or include completed Adam or SGD trials (their largest final loss is the default target).");
            md.AppendLine();
            return;
        }
        if (k.Count == 0)
        {
            md.AppendLine("No KeepStepping or KeepVaulting trial in this sweep.");
            md.AppendLine();
            return;
        }
        var present = Baselines.Where(b => results.Trials.Any(t => t.Optimizer == b)).ToList();
        if (present.Count == 0)
        {
            md.AppendLine(results.Unfinished
                ? "Neither Adam nor SGD had ended when the sweep's client stopped: there is no baseline to race."
                : "Neither Adam nor SGD is in this sweep: there is no baseline to race.");
            md.AppendLine();
            return;
        }
        var baselines = Baselines.ToDictionary(b => b, b => Fastest(results.Trials.Where(t => t.Optimizer == b), goal));
        md.AppendLine($"Target loss: **{Number(goal)}**. Seconds and gradient evaluations spent until the loss was first at most the target:");
        md.AppendLine();
        foreach (var (name, best) in baselines)
            md.AppendLine(best.Time is null
                ? $"- {name}: {(results.Trials.Any(t => t.Optimizer == name) ? "never reached it" : results.Unfinished ? "none had ended" : "not in this sweep")}"
                : $"- {name}: fastest in time {Fixed(best.Time.Value.Seconds)} s (`{best.Time.Value.Trial}`), "
                  + $"fewest gradient evaluations {best.Gradients!.Value.Gradients} (`{best.Gradients.Value.Trial}`)");
        md.AppendLine();
        md.AppendLine("| configuration | trial | seconds | gradient evaluations | before Adam (time) | before Adam (gradients) | before SGD (time) | before SGD (gradients) |");
        md.AppendLine("|---|---|---:|---:|---|---|---|---|");
        var beatTime = 0;
        var beatGradients = 0;
        foreach (var t in k)
        {
            var reached = t.Reached(goal);
            var cells = new List<string>();
            var allTime = true;
            var allGradients = true;
            foreach (var name in Baselines)
            {
                var best = baselines[name];
                var inSweep = present.Contains(name);
                bool? time = !inSweep ? null : reached is null ? false : best.Time is null || reached.Value.Seconds < best.Time.Value.Seconds;
                bool? gradients = !inSweep ? null : reached is null ? false : best.Gradients is null || reached.Value.Gradients < best.Gradients.Value.Gradients;
                cells.Add(Mark(time));
                cells.Add(Mark(gradients));
                allTime &= time != false;
                allGradients &= gradients != false;
            }
            if (reached is not null && allTime) beatTime++;
            if (reached is not null && allGradients) beatGradients++;
            md.AppendLine($"| {t.Configuration} | `{t.Id}` | {(reached is null ? "not reached" : Fixed(reached.Value.Seconds))} | "
                + $"{(reached is null ? "not reached" : reached.Value.Gradients.ToString(CultureInfo.InvariantCulture))} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
        md.AppendLine($"**{beatTime} of {k.Count}** K-optimizer trials reached the target before {(present.Count == 2 ? "both baselines" : $"the {present[0]} baseline (the only one in this sweep)")} in wall-clock time, "
            + $"**{beatGradients} of {k.Count}** with fewer gradient evaluations. "
            + "(\"yes\": strictly earlier than the fastest trial of that baseline; a baseline that never reached the target is beaten by any trial that did; \"n/a\": baseline not in the sweep.)");
        md.AppendLine();
    }

    /// <summary>A trial's task in one line: <c>linear n_row=5000 k=5 noise=0.5 seed=0</c>.</summary>
    static string TaskLine(TrialEntry trial) =>
        string.Join(" ", trial.Task.Select(p => p.Key == "kind" ? ConfigText.Value(p.Value) : $"{p.Key}={ConfigText.Value(p.Value)}"));

    static string Mark(bool? value) => value switch { true => "yes", false => "no", null => "n/a" };

    static ((double Seconds, string Trial)? Time, (long Gradients, string Trial)? Gradients) Fastest(IEnumerable<TrialEntry> trials, double target)
    {
        (double, string)? time = null;
        (long, string)? gradients = null;
        foreach (var t in trials)
        {
            if (t.Reached(target) is not { } r) continue;
            if (time is null || r.Seconds < time.Value.Item1) time = (r.Seconds, t.Id);
            if (gradients is null || r.Gradients < gradients.Value.Item1) gradients = (r.Gradients, t.Id);
        }
        return (time, gradients);
    }

    public static string Number(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("g4", CultureInfo.InvariantCulture) : "n/a";
    public static string Fixed(double? value) => value is { } v ? v.ToString("F2", CultureInfo.InvariantCulture) : "n/a";
    public static string Percent(double? value) => value is { } v && double.IsFinite(v) ? (v * 100).ToString("F1", CultureInfo.InvariantCulture) + "%" : "n/a";
}
