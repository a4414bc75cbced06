using System.Globalization;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Client.Reports;

/// <summary>How one configuration compares with another on a cost where lower is better (seconds or gradient
/// evaluations to the target loss).</summary>
public enum Verdict
{
    /// <summary>Lower in every repeat, and by more than the margin.</summary>
    Better,

    /// <summary>Higher in every repeat, and by more than the margin.</summary>
    Worse,

    /// <summary>The repeats overlap, or the difference is within the margin: this sweep cannot tell them apart.</summary>
    WithinNoise,

    /// <summary>One side has no cost to compare (no trial, or only trials stopped before reaching the target).</summary>
    NoData,
}

/// <summary>A configuration's costs to the target, one per repeat (the grid's <c>repeats</c>: the same configuration
/// under consecutive seeds); <see cref="double.PositiveInfinity"/> for a repeat that spent its budget without
/// reaching the target. Repeats stopped early (cancelled, failed) are not in it: how long they would have taken is
/// unknown.</summary>
public sealed record Costs(IReadOnlyList<double> Values)
{
    public int Count => Values.Count;

    public double Min => Values.Min();

    public double Max => Values.Max();

    /// <summary>The middle value (the mean of the two middle ones for an even count); +∞ when most never reached it.</summary>
    public double Median
    {
        get
        {
            var sorted = Values.Order().ToArray();
            var middle = sorted.Length / 2;
            return sorted.Length % 2 == 1 ? sorted[middle] : sorted[middle - 1] / 2 + sorted[middle] / 2;
        }
    }

    /// <summary>One value, or the median and the range over the repeats: <c>1.20 s</c>, <c>median 1.20 s (range 1.10 s
    /// to 1.40 s, 3 repeats)</c>, <c>2 (all 3 repeats)</c>.</summary>
    public string Text(Func<double, string> format)
    {
        string One(double v) => double.IsPositiveInfinity(v) ? "not reached" : format(v);
        return Count == 1 ? One(Values[0])
            : Min == Max ? $"{One(Min)} (all {Count} repeats)"
            : $"median {One(Median)} (range {One(Min)} to {One(Max)}, {Count} repeats)";
    }
}

/// <summary>
/// The rules by which report.md says one configuration reached the target before another: pure functions of the
/// costs, so that two runs with the same losses and timings that differ by noise give the same answer.
/// </summary>
public static class Race
{
    /// <summary>How much two single timings must differ, as a share of the slower, before the report calls one
    /// faster: trials share cores with other trials and other programs, so one timing of a trial varies between runs
    /// by a share like this; with repeats, every repeat must agree as well.</summary>
    public const double TimeMargin = 0.20;

    /// <summary>Gradient evaluations to the target are counted, not timed: the same seed gives the same count, so any
    /// difference in every repeat counts.</summary>
    public const double GradientMargin = 0;

    /// <summary><paramref name="candidate"/> against <paramref name="baseline"/> (lower is better):
    /// <see cref="Verdict.Better"/> when every repeat of the candidate is below every repeat of the baseline (the
    /// ranges do not overlap: for 3 repeats each, an ordering that arises by chance alone 1 time in 20, a one-sided
    /// Mann-Whitney test with U = 0) and the candidate's median is below the baseline's by more than
    /// <paramref name="margin"/> of the baseline's; <see cref="Verdict.Worse"/> the other way round; else
    /// <see cref="Verdict.WithinNoise"/>. A cost that never reached the target (+∞) loses to any that did; two that
    /// never did are within noise.</summary>
    public static Verdict Compare(Costs? candidate, Costs? baseline, double margin)
    {
        if (candidate is not { Count: > 0 } || baseline is not { Count: > 0 }) return Verdict.NoData;
        if (Separated(candidate, baseline, margin)) return Verdict.Better;
        if (Separated(baseline, candidate, margin)) return Verdict.Worse;
        return Verdict.WithinNoise;
    }

    static bool Separated(Costs lower, Costs higher, double margin) =>
        lower.Max < higher.Min && (double.IsPositiveInfinity(higher.Median) ? double.IsFinite(lower.Median) : lower.Median < higher.Median * (1 - margin));

    /// <summary>Against every baseline at once: better only when better than each; worse when worse than one; no data
    /// when no baseline could be compared.</summary>
    public static Verdict AgainstAll(IReadOnlyCollection<Verdict> verdicts) =>
        verdicts.All(v => v == Verdict.NoData) ? Verdict.NoData
        : verdicts.Any(v => v == Verdict.Worse) ? Verdict.Worse
        : verdicts.Where(v => v != Verdict.NoData).All(v => v == Verdict.Better) ? Verdict.Better
        : Verdict.WithinNoise;

    /// <summary>How many orderings of <paramref name="n"/> and <paramref name="m"/> repeats there are (n+m choose n):
    /// the odds against all of one side coming first by chance alone.</summary>
    public static long Orderings(int n, int m)
    {
        long result = 1;
        for (var i = 1; i <= Math.Min(n, m); i++) result = result * (n + m - Math.Min(n, m) + i) / i;
        return result;
    }

    /// <summary>Why a trial has no cost to the target although it did not reach it, or null when it spent its whole
    /// budget (completed) or diverged: <c>cancelled at step 796</c>, <c>failed before it started</c>,
    /// <c>had not ended</c>.</summary>
    public static string? Stopped(TrialEntry trial) => trial.Status switch
    {
        TrialStatus.Cancelled => trial.History.Count > 0 ? $"cancelled at step {LastStep(trial)}" : "cancelled before it started",
        TrialStatus.Failed => trial.History.Count > 0 ? $"failed at step {LastStep(trial)}" : "failed before it started",
        TrialStatus.Queued or TrialStatus.Running => "had not ended",
        _ => null,
    };

    /// <summary>Why a trial did not reach the target, in words: stopped (<see cref="Stopped"/>), diverged at a step, or
    /// did not reach it in its steps.</summary>
    public static string NotReached(TrialEntry trial) => Stopped(trial)
        ?? (trial.Status == TrialStatus.Diverged ? $"diverged at step {LastStep(trial)}" : $"not reached in {LastStep(trial)} steps");

    static string LastStep(TrialEntry trial) =>
        (trial.History.Count > 0 ? trial.History[^1].Step : 0).ToString(CultureInfo.InvariantCulture);

    /// <summary>A trial's cost to <paramref name="target"/>: seconds or gradient evaluations when it reached it; +∞
    /// when it spent its budget (or diverged) without; null when it was stopped first (its cost is unknown).</summary>
    public static double? Cost(TrialEntry trial, double target, bool seconds) =>
        trial.Reached(target) is { } r ? (seconds ? r.Seconds : r.Gradients)
        : Stopped(trial) is null ? double.PositiveInfinity
        : null;

    /// <summary>A configuration's identity across repeats: its optimizer and settings without the seed.</summary>
    public static string Configuration(TrialEntry trial) => ConfigText.Configuration(trial.Config.Where(c => c.Key != "seed"));

    /// <summary>The loss share a trial must fall below its starting loss to count as having moved: 1%. The post's seed
    /// variant with scale_i=2 ends its 100 steps 0.3% below its start (10.143 to 10.113): it never moved.</summary>
    public const double MovedShare = 1e-2;

    /// <summary>Whether a trial that ran never brought its loss more than <see cref="MovedShare"/> below its first
    /// loss (a diverged trial moved, the wrong way).</summary>
    public static bool NeverMoved(TrialEntry trial)
    {
        if (trial.History.Count == 0 || trial.Status == TrialStatus.Diverged || !double.IsFinite(trial.History[0].Loss)) return false;
        var start = trial.History[0].Loss;
        var later = trial.History.Skip(1).Select(h => h.Loss).Append(trial.FinalLoss ?? double.NaN).Where(double.IsFinite).ToList();
        return later.Count > 0 && later.Min() >= start - Math.Abs(start) * MovedShare;
    }

    /// <summary>Why a trial of this configuration may never move: the seed variants' quirks (docs/optimizers.md), or
    /// null when none applies.</summary>
    public static string? Quirk(TrialEntry trial)
    {
        var variant = trial.Config.FirstOrDefault(c => c.Key == "variant").Value as string ?? "seed";
        if (variant != "seed") return null;
        var scale = trial.Config.FirstOrDefault(c => c.Key == "scale_i").Value switch { double d => d, long l => l, int i => i, _ => 0.0 };
        return trial.Optimizer switch
        {
            "keep-stepping" when scale > 0 =>
                $"the seed variant's sign quirk: the post's mini-step moves by lr·(scale_i·√i − 1) along the gradient, so once scale_i·√i > 1 "
                + $"(with scale_i = {ConfigText.Value(scale)}, from mini-step i = {Math.Max(1, (int)Math.Floor(1 / (scale * scale)) + 1)}) it climbs the gradient instead of descending, and the climb is kept: "
                + "each gradient's progress is undone (docs/optimizers.md, KeepStepping, `variant: seed`; `variant: corrected` is what the post meant)",
            "keep-stepping" => null,
            "keep-vaulting" =>
                "the seed variant's step-size quirk: its \"second derivative\" is a loss minus a slope, so the vault it computes has no Newton meaning and can point back uphill, "
                + "and the vault that made the loss worse is kept (docs/optimizers.md, KeepVaulting, `variant: seed`; `variant: corrected` is a real line search)",
            _ => null,
        };
    }
}
