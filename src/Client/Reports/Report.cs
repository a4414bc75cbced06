using System.Globalization;
using System.Text;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Client.Reports;

/// <summary>
/// The sweep's report in Markdown: first a summary that answers the post's three claims (verdict, numbers, how
/// sure), then the leaderboard, the figures, and each claim tested on this sweep with the numbers of its
/// results.json: the backward share; whether Newton reached the least-squares fit in one step; which K-optimizer
/// configurations reached the target loss before Adam and SGD, in time (with a noise margin, or over the grid's
/// repeats) and in gradient evaluations; trials stopped early or that never moved, and why.
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
    /// <param name="target">The target loss given with <c>--target</c>; null: <see cref="TargetOf"/>'s choice.</param>
    public static string Write(ResultsFile results, double? target)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(results.Path))!;
        Figures.Draw(results, directory);
        var path = Path.Combine(directory, FileName);
        var text = Render(results, target);
        Output.AtomicFile.Write(path, (string temporary) => File.WriteAllText(temporary, text, new UTF8Encoding(false)));
        return path;
    }

    /// <summary>report.md's text: the summary of the post's claims first, then the leaderboard, the figures and each
    /// claim in detail.</summary>
    /// <param name="target">The target loss given with <c>--target</c>; null: <see cref="TargetOf"/>'s choice.</param>
    public static string Render(ResultsFile results, double? target)
    {
        var race = TargetOf(results, target);
        var md = new StringBuilder();
        md.AppendLine($"# {results.Sweep.Name}");
        md.AppendLine();
        var source = System.IO.Path.GetFileName(results.Path);
        md.AppendLine($"Sweep `{results.Sweep.Id}`: {results.Status}, "
            + (results.Unfinished ? $"{results.Trials.Count} of its {results.Sweep.TrialCount} trials ended " : $"{results.Trials.Count} trials ")
            + $"({Counts(results)}), ranked by `{results.Metric}`. Numbers from [{source}]({source})"
            + (results.Unfinished ? ": the trials that had ended when its client stopped before writing results.json." : "."));
        md.AppendLine();
        Summary(md, results, race);
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
        MoreDescent(md, results, race);
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
        foreach (var (t, before, after, best, oneStep) in NewtonSteps(results))
            md.AppendLine($"| `{t.Id}` | {TaskLine(t).Replace("|", "\\|")} | {t.Status.Name()} | {Number(before)} | {Number(after)} | {Number(best)} | "
                + $"{(oneStep is null ? "n/a (no step)" : oneStep.Value ? "yes" : "no")}{(LinearTask(t) ? "" : " (not a linear task)")} |");
        md.AppendLine();
        md.AppendLine("\"yes\": the loss after the first step is the lowest the trial reached (within 1e-6 relative), so no later step improved on it.");
        md.AppendLine();
    }

    /// <summary>The target loss of the race and why it is that number.</summary>
    /// <param name="Value">The loss (mean squared error).</param>
    /// <param name="Why">Where it comes from, in a sentence for report.md.</param>
    public sealed record Target(double Value, string Why);

    /// <summary><paramref name="given"/> (<c>--target</c>), else the sweep's metric target, else
    /// <see cref="DefaultTarget"/>, with the reason; null when there is none.</summary>
    public static Target? TargetOf(ResultsFile results, double? given)
    {
        if (given is { } g) return new Target(g, "given with `--target`.");
        if (results.Sweep.MetricTarget is { } m) return new Target(m, "the sweep's metric target (`metric.target` in its grid).");
        if (DefaultTarget(results) is not { } d) return null;
        var source = results.Trials.Where(t => Baselines.Contains(t.Optimizer) && t.Status == TrialStatus.Completed && t.FinalLoss == d).Select(t => $"`{t.Id}` ({t.Configuration})").FirstOrDefault();
        return new Target(d, $"the final loss of {source}, the highest final loss among the completed Adam and SGD trials. "
            + "Every completed baseline trial got at least this low within its budget, so each baseline has a time and a gradient count to it, "
            + "and the race asks who reaches, first, a loss that both baselines demonstrably reach. A lower target would leave the slower "
            + "baseline with no time at all (\"not reached\"), so nothing could beat it meaningfully; give one with `--target` to race to another loss.");
    }

    /// <summary>One configuration's trials (its repeats) in the race, with their costs to the target.</summary>
    sealed record Entry(string Configuration, string Optimizer, List<TrialEntry> Trials, Costs? Seconds, Costs? Gradients, double Target)
    {
        /// <summary>The trials stopped before reaching the target: not counted (their cost is unknown).</summary>
        public IEnumerable<TrialEntry> Stopped() => Trials.Where(t => Race.Cost(t, Target, seconds: true) is null);

        /// <summary>The cost as a cell: the one value or the median and range; a single trial that did not reach the
        /// target says why; only stopped trials: what stopped them.</summary>
        public string Cell(Costs? costs, Func<double, string> format)
        {
            if (costs is null) return string.Join("; ", Stopped().Select(t => $"`{t.Id}` {Race.Stopped(t)}"));
            var counted = Trials.Where(t => Race.Cost(t, Target, seconds: true) is not null).ToList();
            return costs.Count == 1 && double.IsPositiveInfinity(costs.Values[0]) ? Race.NotReached(counted[0]) : costs.Text(format);
        }
    }

    /// <summary>The race to <paramref name="target"/>: each configuration of the K-optimizers and baselines, and the
    /// fastest baseline configurations (by median seconds and by median gradient evaluations).</summary>
    sealed record RaceResult(List<Entry> Contenders, Dictionary<string, Entry?> BySeconds, Dictionary<string, Entry?> ByGradients, List<Entry> Baseline)
    {
        public Verdict Time(Entry e, string baseline) => Race.Compare(e.Seconds, BySeconds[baseline]?.Seconds, Race.TimeMargin);

        public Verdict Gradients(Entry e, string baseline) => Race.Compare(e.Gradients, ByGradients[baseline]?.Gradients, Race.GradientMargin);
    }

    static RaceResult RaceTo(ResultsFile results, double target)
    {
        List<Entry> Entries(IEnumerable<string> optimizers) => [.. results.Trials.Where(t => optimizers.Contains(t.Optimizer))
            .GroupBy(Race.Configuration).Select(g =>
            {
                var trials = g.ToList();
                Costs? Of(bool seconds)
                {
                    var values = trials.Select(t => Race.Cost(t, target, seconds)).OfType<double>().ToList();
                    return values.Count > 0 ? new Costs(values) : null;
                }
                return new Entry(g.Key, trials[0].Optimizer, trials, Of(true), Of(false), target);
            })];
        var baseline = Entries(Baselines);
        Entry? Best(string name, Func<Entry, Costs?> costs) =>
            baseline.Where(e => e.Optimizer == name && costs(e) is not null).OrderBy(e => costs(e)!.Median).ThenBy(e => costs(e)!.Min).FirstOrDefault();
        return new RaceResult(Entries(KOptimizers), Baselines.ToDictionary(b => b, b => Best(b, e => e.Seconds)),
            Baselines.ToDictionary(b => b, b => Best(b, e => e.Gradients)), baseline);
    }

    static string Seconds(double v) => $"{Fixed(v)} s";

    static string Share(double share) => (share * 100).ToString("0.###", CultureInfo.InvariantCulture) + "%";

    static readonly string Margin = Share(Race.TimeMargin);

    static string Count(double v) => v.ToString("0", CultureInfo.InvariantCulture);

    /// <summary>How sure a comparison is, in a clause: the repeats that agree, or the margin for single timings.</summary>
    static string Sureness(Costs a, Costs b, Verdict verdict, bool timing)
    {
        var repeats = a.Count > 1 || b.Count > 1;
        if (verdict is Verdict.Better or Verdict.Worse)
            return repeats
                ? $"every one of the {a.Count}×{b.Count} pairs of repeats agrees (an ordering that chance alone gives 1 time in {Race.Orderings(a.Count, b.Count)})"
                  + (timing ? $", and the medians differ by more than the {Margin} margin" : "")
                : timing
                    ? $"one timing each, differing by more than the {Margin} margin that a single timing on a shared machine can vary by; run the grid with `\"repeats\": 3` to measure the spread"
                    : "exact counts for this seed; run the grid with `\"repeats\": 3` to see whether other seeds agree";
        if (verdict == Verdict.WithinNoise)
            return repeats
                ? (a.Max >= b.Min && b.Max >= a.Min ? "their repeats overlap" : $"the medians differ by less than the {Margin} margin")
                : timing ? $"one timing each, differing by less than the {Margin} margin that a single timing on a shared machine can vary by" : "the same count";
        return "";
    }

    static readonly Dictionary<string, string> Names = new() { ["adam"] = "Adam", ["sgd"] = "SGD", ["keep-stepping"] = "KeepStepping", ["keep-vaulting"] = "KeepVaulting" };

    /// <summary>The answer first: each of the post's three claims with its verdict, the numbers and how sure.</summary>
    static void Summary(StringBuilder md, ResultsFile results, Target? target)
    {
        md.AppendLine("## Summary: the post's claims on this sweep");
        md.AppendLine();
        md.AppendLine("- **\"Newton's method solves linear regression in one step.\"** " + NewtonVerdict(results));
        if (target is null)
        {
            md.AppendLine("- **\"KeepStepping beats Adam in convergence speed.\"** Not tested: there is no target loss to race to (no completed Adam or SGD trial; give one with `--target`).");
            md.AppendLine("- **\"More descent, less gradient\": KeepVaulting needs fewer gradient evaluations than SGD and Adam.** Not tested, for the same reason.");
            md.AppendLine();
            return;
        }
        var race = RaceTo(results, target.Value);
        md.AppendLine("- **\"KeepStepping beats Adam in convergence speed\"** (wall-clock time to the target loss "
            + $"{Number(target.Value)}, see below). " + SteppingVerdict(race));
        md.AppendLine("- **\"More descent, less gradient\": KeepVaulting needs fewer gradient evaluations than SGD and Adam** (to the same target). "
            + VaultingVerdict(race));
        var stopped = race.Contenders.Concat(race.Baseline).SelectMany(e => e.Stopped()).ToList();
        if (stopped.Count > 0)
            md.AppendLine($"- Not counted in the race, stopped before reaching the target: {string.Join("; ", stopped.Select(t => $"`{t.Id}` ({t.Configuration}) {Race.Stopped(t)}"))}.");
        var still = results.Trials.Where(Race.NeverMoved).ToList();
        if (still.Count > 0)
            md.AppendLine($"- {still.Count} trial{(still.Count == 1 ? "" : "s")} never fell {Share(Race.MovedShare)} below {(still.Count == 1 ? "its" : "their")} starting loss: "
                + $"{string.Join(", ", still.Select(t => $"`{t.Id}` ({t.Configuration})"))}; why, under \"Trials that never moved\" below.");
        md.AppendLine();
    }

    static List<(TrialEntry Trial, double? Before, double? After, double Best, bool? OneStep)> NewtonSteps(ResultsFile results) =>
        [.. results.Trials.Where(t => t.Optimizer == "newton").Select(t =>
        {
            double? before = t.History.Count > 0 ? t.History[0].Loss : null;
            var after = t.History.Count > 1 ? t.History[1].Loss : t.FinalLoss;
            var best = t.History.Select(h => h.Loss).Append(t.FinalLoss ?? double.NaN).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min();
            bool? oneStep = t.History.Count == 0 ? null : after is { } a && double.IsFinite(best) && a <= best * (1 + 1e-6) + 1e-12;
            return (t, before, after, best, oneStep);
        })];

    /// <summary>A linear least-squares task: <c>linear</c>, or a CSV fit with <c>model: linear</c>: where the post's one-step claim applies.</summary>
    static bool LinearTask(TrialEntry trial)
    {
        var kind = trial.Task.FirstOrDefault(p => p.Key == "kind").Value as string;
        return kind == "linear" || (kind == "csv" && trial.Task.FirstOrDefault(p => p.Key == "model").Value as string == "linear");
    }

    static string NewtonVerdict(ResultsFile results)
    {
        var steps = NewtonSteps(results).Where(s => LinearTask(s.Trial) && s.OneStep is not null).ToList();
        if (steps.Count == 0)
            return "Not tested: no `newton` trial ran on a linear task (`\"kind\": \"linear\"`, or a CSV with `\"model\": \"linear\"`).";
        var yes = steps.Count(s => s.OneStep == true);
        var numbers = string.Join("; ", steps.Take(4).Select(s => $"`{s.Trial.Id}`: {Number(s.Before)} before, {Number(s.After)} after one step, best {Number(s.Best)}"))
            + (steps.Count > 4 ? $"; {steps.Count - 4} more in the table below" : "");
        return (yes == steps.Count ? "**Confirmed**" : yes == 0 ? "**Not confirmed**" : "**Partly confirmed**")
            + $": {yes} of {steps.Count} `newton` trials on linear tasks were at their best loss after the first step ({numbers}). "
            + "Sure: these are losses, not timings; the same data and seed give the same numbers.";
    }

    static string SteppingVerdict(RaceResult race)
    {
        var stepping = race.Contenders.Where(e => e.Optimizer == "keep-stepping" && e.Seconds is not null).OrderBy(e => e.Seconds!.Median).ThenBy(e => e.Seconds!.Min).ToList();
        if (!race.Contenders.Any(e => e.Optimizer == "keep-stepping")) return "Not tested: no KeepStepping trial in this sweep.";
        if (stepping.Count == 0) return "Not tested: every KeepStepping trial was stopped before reaching the target.";
        if (race.BySeconds["adam"] is not { } adam)
            return race.Baseline.Any(e => e.Optimizer == "adam") ? "Not tested: every Adam trial was stopped before reaching the target." : "Not tested: no Adam trial in this sweep.";
        var best = stepping[0];
        var verdict = race.Time(best, "adam");
        var numbers = $"seconds to the target: `{best.Configuration}` (the fastest KeepStepping configuration) {best.Cell(best.Seconds, Seconds)}; "
            + $"Adam (`{adam.Configuration}`) {adam.Cell(adam.Seconds, Seconds)}"
            + (race.BySeconds["sgd"] is { } sgd ? $"; SGD (`{sgd.Configuration}`) {sgd.Cell(sgd.Seconds, Seconds)}" : "")
            + (best.Gradients is not null && race.ByGradients["adam"] is { } ag ? $"; gradient evaluations: {best.Cell(best.Gradients, Count)} against Adam's {ag.Cell(ag.Gradients, Count)}" : "");
        var head = verdict switch
        {
            Verdict.Better => "**Confirmed**",
            Verdict.Worse => "**Not confirmed**: Adam was faster",
            _ => "**Within noise**: this sweep cannot tell them apart",
        };
        return $"{head}: {numbers}. How sure: {Sureness(best.Seconds!, adam.Seconds!, verdict, timing: true)}.";
    }

    static string VaultingVerdict(RaceResult race)
    {
        if (!race.Contenders.Any(e => e.Optimizer == "keep-vaulting")) return "Not tested: no KeepVaulting trial in this sweep.";
        var vaulting = race.Contenders.Where(e => e.Optimizer == "keep-vaulting" && e.Gradients is not null).OrderBy(e => e.Gradients!.Median).ThenBy(e => e.Gradients!.Min).ToList();
        if (vaulting.Count == 0) return "Not tested: every KeepVaulting trial was stopped before reaching the target.";
        var present = Baselines.Where(b => race.ByGradients[b] is not null).ToList();
        if (present.Count == 0) return "Not tested: no Adam or SGD trial reached the target unstopped.";
        var best = vaulting[0];
        var verdicts = present.ToDictionary(b => b, b => race.Gradients(best, b));
        var verdict = Race.AgainstAll(verdicts.Values);
        var numbers = $"gradient evaluations to the target: `{best.Configuration}` (the KeepVaulting configuration with the fewest) {best.Cell(best.Gradients, Count)}"
            + string.Concat(present.Select(b => $"; {Names[b]} (`{race.ByGradients[b]!.Configuration}`) {race.ByGradients[b]!.Cell(race.ByGradients[b]!.Gradients, Count)}"));
        var head = verdict switch
        {
            Verdict.Better => present.Count == 2 ? "**Confirmed**" : $"**Confirmed against {Names[present[0]]}** (the only baseline that reached the target)",
            Verdict.Worse => $"**Not confirmed**: {string.Join(" and ", verdicts.Where(v => v.Value == Verdict.Worse).Select(v => Names[v.Key]))} needed fewer",
            _ => "**Not confirmed**: the same or overlapping counts",
        };
        var sureness = string.Join("; ", present.Select(b => Sureness(best.Gradients!, race.ByGradients[b]!.Gradients!, verdicts[b], timing: false)).Distinct());
        return $"{head}: {numbers}. How sure: {sureness}.";
    }

    static void MoreDescent(StringBuilder md, ResultsFile results, Target? target)
    {
        md.AppendLine("### \"More descent, less gradient\": K-optimizers against Adam and SGD");
        md.AppendLine();
        var k = results.Trials.Where(t => KOptimizers.Contains(t.Optimizer)).ToList();
        if (target is null)
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
        var race = RaceTo(results, target.Value);
        if (race.Baseline.Count == 0)
        {
            md.AppendLine(results.Unfinished
                ? "Neither Adam nor SGD had ended when the sweep's client stopped: there is no baseline to race."
                : "Neither Adam nor SGD is in this sweep: there is no baseline to race.");
            md.AppendLine();
            return;
        }
        md.AppendLine($"Target loss: **{Number(target.Value)}**, {target.Why}");
        md.AppendLine();
        md.AppendLine("Seconds and gradient evaluations spent until the loss was first at most the target; the fastest configuration of each baseline:");
        md.AppendLine();
        foreach (var name in Baselines)
        {
            var entries = race.Baseline.Where(e => e.Optimizer == name).ToList();
            if (entries.Count == 0)
            {
                md.AppendLine($"- {Names[name]}: {(results.Unfinished ? "none had ended" : "not in this sweep")}");
                continue;
            }
            var (time, gradients) = (race.BySeconds[name], race.ByGradients[name]);
            md.AppendLine(time is null
                ? $"- {Names[name]}: no time to the target: {string.Join("; ", entries.SelectMany(e => e.Trials).Select(t => $"`{t.Id}` {Race.Stopped(t)}"))}"
                : $"- {Names[name]}: `{time.Configuration}` ({string.Join(", ", time.Trials.Select(t => $"`{t.Id}`"))}): "
                  + (double.IsPositiveInfinity(time.Seconds!.Min) ? time.Cell(time.Seconds, Seconds)
                      : $"{time.Cell(time.Seconds, Seconds)}, {time.Cell(time.Gradients, Count)} gradient evaluations"
                        + (gradients != time ? $"; fewest gradient evaluations: `{gradients!.Configuration}` {gradients.Cell(gradients.Gradients, Count)}" : ""))
                  + (time.Stopped().Any() ? $"; not counted: {string.Join("; ", time.Stopped().Select(t => $"`{t.Id}` {Race.Stopped(t)}"))}" : ""));
        }
        md.AppendLine();
        md.AppendLine("| configuration | trials | seconds to target | gradient evaluations to target | vs Adam (time) | vs Adam (gradients) | vs SGD (time) | vs SGD (gradients) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        var byTime = new List<Verdict>();
        var byGradients = new List<Verdict>();
        foreach (var e in race.Contenders)
        {
            var cells = new List<string>();
            var vt = new List<Verdict>();
            var vg = new List<Verdict>();
            foreach (var name in Baselines)
            {
                vt.Add(race.Time(e, name));
                vg.Add(race.Gradients(e, name));
                cells.Add(TimeWord(vt[^1]));
                cells.Add(GradientWord(vg[^1]));
            }
            byTime.Add(Race.AgainstAll(vt));
            byGradients.Add(Race.AgainstAll(vg));
            var ids = string.Join(", ", e.Trials.Select(t => Race.Stopped(t) is { } why && Race.Cost(t, target.Value, true) is null ? $"`{t.Id}` ({why}, not counted)" : $"`{t.Id}`"));
            md.AppendLine($"| {e.Configuration} | {ids} | {e.Cell(e.Seconds, Seconds)} | {e.Cell(e.Gradients, Count)} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
        var present = Baselines.Where(b => race.BySeconds[b] is not null).ToList();
        var against = present.Count == 2 ? "both baselines" : present.Count == 1 ? $"{Names[present[0]]} (the only baseline with a time)" : "the baselines";
        md.AppendLine($"Of {race.Contenders.Count} K-optimizer configurations, in wall-clock time: **{Tally(byTime, "sooner than", "later than", against)}**; "
            + $"in gradient evaluations: **{Tally(byGradients, "fewer than", "more than", against)}**.");
        md.AppendLine();
        var repeats = race.Contenders.Concat(race.Baseline).Any(e => e.Trials.Count > 1);
        md.AppendLine("How these verdicts are made: a configuration is \"sooner\" (or \"fewer\") only when every one of its repeats beat every repeat "
            + $"of the baseline's fastest configuration and, for time, its median was lower by more than {Margin} of the baseline's; "
            + "\"later\" (\"more\") the other way round; otherwise \"within noise\" (\"overlapping\", or \"same\"). "
            + (repeats
                ? "Repeats are the grid's `repeats`: the same configuration under consecutive seeds; the cells give their median and range. "
                : $"This sweep has one trial per configuration (no `repeats`), so each time is a single timing: a difference counts only beyond the {Margin} margin. "
                  + "Run the grid with `\"repeats\": 3` to measure the spread instead. ")
            + "Gradient evaluations are counted, not timed: for one seed they are exact. A baseline trial that was cancelled or failed before reaching the target is not counted (its time is unknown), "
            + "and one that ran its whole budget without reaching it counts as never reaching it.");
        md.AppendLine();
        NeverMoved(md, results);
    }

    static void NeverMoved(StringBuilder md, ResultsFile results)
    {
        var still = results.Trials.Where(Race.NeverMoved).ToList();
        if (still.Count == 0) return;
        md.AppendLine("#### Trials that never moved");
        md.AppendLine();
        foreach (var t in still)
            md.AppendLine($"- `{t.Id}` ({t.Configuration}): its loss never went more than {Share(Race.MovedShare)} below its starting {Number(t.History[0].Loss)} "
                + $"(best {Number(t.History.Select(h => h.Loss).Append(t.FinalLoss ?? double.NaN).Where(double.IsFinite).Min())}). "
                + (Race.Quirk(t) is { } quirk ? $"Why: {quirk}." : "No known quirk of its optimizer explains it: its learning rate may be too small for this task."));
        md.AppendLine();
    }

    static string Tally(List<Verdict> verdicts, string better, string worse, string against)
    {
        var parts = new List<string>();
        void Add(Verdict v, string words)
        {
            var n = verdicts.Count(x => x == v);
            if (n > 0) parts.Add($"{n} {words}");
        }
        Add(Verdict.Better, $"{better} {against}");
        Add(Verdict.WithinNoise, "within noise");
        Add(Verdict.Worse, $"{worse} at least one");
        Add(Verdict.NoData, "without a number to compare");
        return string.Join(", ", parts);
    }

    static string TimeWord(Verdict v) => v switch { Verdict.Better => "sooner", Verdict.Worse => "later", Verdict.WithinNoise => "within noise", _ => "n/a" };

    static string GradientWord(Verdict v) => v switch { Verdict.Better => "fewer", Verdict.Worse => "more", Verdict.WithinNoise => "same or overlapping", _ => "n/a" };

    /// <summary>A trial's task in one line: <c>linear n_row=5000 k=5 noise=0.5 seed=0</c>.</summary>
    static string TaskLine(TrialEntry trial) =>
        string.Join(" ", trial.Task.Select(p => p.Key == "kind" ? ConfigText.Value(p.Value) : $"{p.Key}={ConfigText.Value(p.Value)}"));

    public static string Number(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("g4", CultureInfo.InvariantCulture) : "n/a";
    public static string Fixed(double? value) => value is { } v ? v.ToString("F2", CultureInfo.InvariantCulture) : "n/a";
    public static string Percent(double? value) => value is { } v && double.IsFinite(v) ? (v * 100).ToString("F1", CultureInfo.InvariantCulture) + "%" : "n/a";
}
