using Descent.Client.Reports;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Tests.Client;

/// <summary>The rules by which report.md calls one configuration sooner, later or within noise of another, on
/// hand-made costs: single timings against the stated margin, repeats by their ranges and medians.</summary>
public class RaceTests
{
    static Costs C(params double[] values) => new(values);

    const double Never = double.PositiveInfinity;

    [Theory]
    // One timing each: only beyond 20% of the slower.
    [InlineData(new[] { 1.0 }, new[] { 2.0 }, Verdict.Better)]
    [InlineData(new[] { 2.0 }, new[] { 1.0 }, Verdict.Worse)]
    [InlineData(new[] { 1.0 }, new[] { 1.1 }, Verdict.WithinNoise)]
    [InlineData(new[] { 1.1 }, new[] { 1.0 }, Verdict.WithinNoise)]
    [InlineData(new[] { 0.79 }, new[] { 1.0 }, Verdict.Better)]
    [InlineData(new[] { 0.81 }, new[] { 1.0 }, Verdict.WithinNoise)]
    // Repeats: every repeat must agree (ranges apart) and the medians differ beyond the margin.
    [InlineData(new[] { 1.0, 1.1, 1.2 }, new[] { 1.5, 1.6, 1.7 }, Verdict.Better)]
    [InlineData(new[] { 1.0, 1.1, 1.6 }, new[] { 1.5, 1.6, 1.7 }, Verdict.WithinNoise)]
    [InlineData(new[] { 1.0, 1.05, 1.1 }, new[] { 1.15, 1.2, 1.25 }, Verdict.WithinNoise)]
    [InlineData(new[] { 1.5, 1.6, 1.7 }, new[] { 1.0, 1.1, 1.2 }, Verdict.Worse)]
    // Never reaching the target loses to reaching it, at any time; two that never reached it are not told apart.
    [InlineData(new[] { Never }, new[] { 100.0 }, Verdict.Worse)]
    [InlineData(new[] { 100.0 }, new[] { Never }, Verdict.Better)]
    [InlineData(new[] { Never }, new[] { Never }, Verdict.WithinNoise)]
    [InlineData(new[] { 1.0, Never, 1.2 }, new[] { 1.5, 1.6, 1.7 }, Verdict.WithinNoise)]
    public void Timings_are_compared_with_their_spread_and_the_margin(double[] candidate, double[] baseline, Verdict expected) =>
        Assert.Equal(expected, Race.Compare(C(candidate), C(baseline), Race.TimeMargin));

    [Fact]
    public void Gradient_counts_need_no_margin_but_repeats_must_agree()
    {
        Assert.Equal(Verdict.Better, Race.Compare(C(39), C(40), Race.GradientMargin));
        Assert.Equal(Verdict.WithinNoise, Race.Compare(C(40), C(40), Race.GradientMargin));
        Assert.Equal(Verdict.WithinNoise, Race.Compare(C(30, 50), C(40, 41), Race.GradientMargin));
        Assert.Equal(Verdict.NoData, Race.Compare(null, C(40), Race.GradientMargin));
        Assert.Equal(Verdict.NoData, Race.Compare(C(40), null, Race.GradientMargin));
    }

    [Fact]
    public void Against_every_baseline_better_means_better_than_each()
    {
        Assert.Equal(Verdict.Better, Race.AgainstAll([Verdict.Better, Verdict.Better]));
        Assert.Equal(Verdict.Better, Race.AgainstAll([Verdict.Better, Verdict.NoData]));
        Assert.Equal(Verdict.WithinNoise, Race.AgainstAll([Verdict.Better, Verdict.WithinNoise]));
        Assert.Equal(Verdict.Worse, Race.AgainstAll([Verdict.Better, Verdict.Worse]));
        Assert.Equal(Verdict.NoData, Race.AgainstAll([Verdict.NoData, Verdict.NoData]));
    }

    [Fact]
    public void The_odds_of_an_ordering_by_chance_are_the_binomial_coefficient()
    {
        Assert.Equal(2, Race.Orderings(1, 1));
        Assert.Equal(20, Race.Orderings(3, 3));
        Assert.Equal(10, Race.Orderings(2, 3));
        Assert.Equal(252, Race.Orderings(5, 5));
    }

    [Fact]
    public void Costs_show_one_value_or_the_median_and_range()
    {
        Assert.Equal("1.20 s", C(1.2).Text(v => $"{v:F2} s"));
        Assert.Equal("median 1.20 s (range 1.10 s to 1.40 s, 3 repeats)", C(1.4, 1.1, 1.2).Text(v => $"{v:F2} s"));
        Assert.Equal("median not reached (range 1.10 s to not reached, 3 repeats)", C(Never, 1.1, Never).Text(v => $"{v:F2} s"));
        Assert.Equal("2 (all 3 repeats)", C(2, 2, 2).Text(v => $"{v:0}"));
        Assert.Equal(1.25, C(1.0, 1.5).Median);
    }

    static TrialEntry Ran(TrialStatus status, params double[] losses) => new()
    {
        Id = "t",
        Config = [new("optimizer", "sgd")],
        Task = [new("kind", "synthetic")],
        Budget = new Budget(1000),
        Status = status,
        FinalLoss = losses.Length > 0 ? losses[^1] : null,
        History = [.. losses.Select((loss, k) => new StepRecord(k + 1, loss, (k + 1) * 0.1, k + 1, k + 1))],
    };

    [Fact]
    public void A_trial_stopped_before_the_target_is_named_as_stopped_and_has_no_cost()
    {
        var cancelled = Ran(TrialStatus.Cancelled, [.. Enumerable.Range(0, 796).Select(k => 10.0 - k * 0.01)]);
        Assert.Equal("cancelled at step 796", Race.Stopped(cancelled));
        Assert.Equal("cancelled at step 796", Race.NotReached(cancelled));
        Assert.Null(Race.Cost(cancelled, 0.5, seconds: true));
        // Reached before the cancel: its time to the target is known.
        Assert.Equal(0.1, Race.Cost(cancelled, 9.99, seconds: true));
        Assert.Equal("cancelled before it started", Race.Stopped(Ran(TrialStatus.Cancelled)));
        Assert.Equal("failed at step 2", Race.Stopped(Ran(TrialStatus.Failed, 1, 2)));
        var completed = Ran(TrialStatus.Completed, 3, 2, 1);
        Assert.Null(Race.Stopped(completed));
        Assert.Equal("not reached in 3 steps", Race.NotReached(completed));
        Assert.Equal(double.PositiveInfinity, Race.Cost(completed, 0.5, seconds: true));
        Assert.Equal("diverged at step 2", Race.NotReached(Ran(TrialStatus.Diverged, 3, double.NaN)));
    }

    [Fact]
    public void A_trial_whose_loss_never_fell_below_its_start_never_moved()
    {
        Assert.True(Race.NeverMoved(Ran(TrialStatus.Completed, 2, 2.5, 2.0, 3)));
        Assert.True(Race.NeverMoved(Ran(TrialStatus.Completed, 2, 1.9995, 2.1)));
        Assert.False(Race.NeverMoved(Ran(TrialStatus.Completed, 2, 1.9, 2.1)));
        // The post benchmark's keep-stepping scale_i=2 (seed variant): 100 steps, 0.3% below its start.
        Assert.True(Race.NeverMoved(Ran(TrialStatus.Completed, 10.143280029296875, 10.142918586730957, 10.112709045410156)));
        Assert.False(Race.NeverMoved(Ran(TrialStatus.Diverged, 2, double.NaN)));
        Assert.False(Race.NeverMoved(Ran(TrialStatus.Cancelled)));
    }
}
