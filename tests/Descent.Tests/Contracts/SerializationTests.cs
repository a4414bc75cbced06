using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Descent.Tests.Contracts;

public class SerializationTests
{
    static readonly Serializer Serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

    static T RoundTrip<T>(T value) => Serializer.Deserialize<T>(Serializer.SerializeToArray(value))!;

    [Fact]
    public void Trial_specs_cross_the_wire_unchanged()
    {
        TrialSpec[] specs =
        [
            new(new SyntheticTaskSpec(100, 10, 10, 5), new OptimizerSpec(OptimizerKind.KeepStepping, 1e-3, 50, 2, Variant.Corrected), new Budget(100, 30, 0.01), 7),
            new(new LinearTaskSpec(1000, 10, 0.5), new OptimizerSpec(OptimizerKind.Newton, MaxParameters: 64), new Budget(1)),
            new(new CsvTaskSpec("/data/x.csv", "price", CsvModel.Mlp, 8, 2), new OptimizerSpec(OptimizerKind.Lbfgs, 0.5, HistorySize: 10), new Budget(5)),
        ];
        foreach (var spec in specs) Assert.Equal(spec, RoundTrip(spec));
    }

    [Fact]
    public void Trial_results_cross_the_wire_unchanged()
    {
        var result = new TrialResult(TrialStatus.Diverged, "the loss became NaN", double.NaN, 0.5, 12, 4, 0.1, 0.4, 0.01, 0.6,
            [new StepRecord(1, 2.5, 0.1, 3, 1), new StepRecord(2, 0.5, 0.2, 6, 2)]);
        var copy = RoundTrip(result);
        Assert.Equal(result.History, copy.History);
        Assert.Equal(result with { History = copy.History }, copy);
    }

    [Fact]
    public void Normalized_optimizer_specs_forget_what_their_optimizer_does_not_read()
    {
        var a = new OptimizerSpec(OptimizerKind.Sgd, 0.01, MaxSteps: 50, ScaleI: 2, Variant: Variant.Corrected);
        var b = new OptimizerSpec(OptimizerKind.Sgd, 0.01);
        Assert.NotEqual(a, b);
        Assert.Equal(b, a.Normalized());
        var ks = new OptimizerSpec(OptimizerKind.KeepStepping, 0.01, 50, 2, Variant.Corrected);
        Assert.Equal(ks, ks.Normalized());
        Assert.Equal("keep-stepping lr=0.01 max_steps=50 scale_i=2 variant=corrected", ks.ToString());
        Assert.Equal("lbfgs lr=0.5 history_size=10", new OptimizerSpec(OptimizerKind.Lbfgs, 0.5, MaxSteps: 3, HistorySize: 10).ToString());
    }

    [Fact]
    public void Problems_name_field_and_value_once_each()
    {
        var spec = new TrialSpec(new SyntheticTaskSpec(0, 10, -1, 5), new OptimizerSpec(OptimizerKind.KeepStepping, -0.5, 0, -1), new Budget(0));
        var problems = spec.Problems().Select(p => p.ToString()).ToList();
        Assert.Equal(
        [
            "task.n_row = 0: must be at least 1",
            "task.dim_hidden = -1: must be at least 1",
            "lr = -0.5: must be a finite number above 0",
            "max_steps = 0: must be at least 1",
            "scale_i = -1: must be a finite number of 0 or more",
            "budget.steps = 0: must be at least 1",
        ], problems);
        Assert.Contains("lr = -0.5", Assert.Throws<SpecException>(spec.Validate).Message);
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void Non_finite_values_are_problems_naming_field_and_value(double value, string shown)
    {
        var spec = new TrialSpec(new LinearTaskSpec(10, 2, value), new OptimizerSpec(OptimizerKind.KeepStepping, value, ScaleI: value),
            new Budget(5, value, value));
        Assert.Equal(
        [
            $"task.noise = {shown}: must be a finite number of 0 or more",
            $"lr = {shown}: must be a finite number above 0",
            $"scale_i = {shown}: must be a finite number of 0 or more",
            $"budget.seconds = {shown}: must be a finite number above 0",
            $"budget.target_loss = {shown}: must be a finite number of 0 or more",
        ], spec.Problems().Select(p => p.ToString()));
        // What the coordinator checks before it places anything.
        var sweep = new SweepSpec("s", [spec with { Task = new LinearTaskSpec(10, 2), Budget = new Budget(5) }], new RankMetric(MetricKind.TimeToTarget, value));
        Assert.Equal(
        [
            $"metric.target = {shown}: must be a finite number of 0 or more",
            $"trials[0].lr = {shown}: must be a finite number above 0",
            $"trials[0].scale_i = {shown}: must be a finite number of 0 or more",
        ], sweep.Problems().Select(p => p.ToString()));
    }

    [Fact]
    public void Values_past_float32s_range_are_problems_where_they_enter_float32_arithmetic()
    {
        var spec = new TrialSpec(new LinearTaskSpec(10, 2, 1e39), new OptimizerSpec(OptimizerKind.KeepStepping, 3.5e38, ScaleI: -1e39),
            new Budget(5, 1e39, 1e39));
        Assert.Equal(
        [
            "task.noise = 1E+39: must be a finite number of 0 or more (it overflows float32, the type of the data)",
            "lr = 3.5E+38: must be a finite number above 0 (it overflows float32, the type of the parameters it moves)",
            "scale_i = -1E+39: must be a finite number of 0 or more (it overflows float32, the type of the parameters it moves)",
        ], spec.Problems().Select(p => p.ToString()));
        // float32's largest value itself is fine; seconds and target_loss stay in float64 (a budget and a comparison).
        Assert.Empty(new TrialSpec(new LinearTaskSpec(10, 2, float.MaxValue), new OptimizerSpec(OptimizerKind.Sgd, float.MaxValue), new Budget(5, 1e300, 1e300)).Problems());
    }

    [Fact]
    public void Grid_names_of_optimizers_and_variants_round_trip()
    {
        foreach (var kind in Enum.GetValues<OptimizerKind>())
        {
            Assert.True(OptimizerNames.TryParse(kind.Name(), out var parsed));
            Assert.Equal(kind, parsed);
        }
        Assert.True(OptimizerNames.TryParseVariant("corrected", out var v) && v == Variant.Corrected);
        Assert.False(OptimizerNames.TryParse("rmsprop", out _));
        Assert.False(OptimizerNames.TryParseVariant("fixed", out _));
    }
}
