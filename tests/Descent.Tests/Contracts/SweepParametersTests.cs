using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Sweeps;

namespace Descent.Tests.Contracts;

public class SweepParametersTests
{
    [Fact]
    public void The_records_c_sharp_defaults_are_the_tables()
    {
        foreach (var kind in SweepParameters.TaskKinds)
        {
            // Required fields have no default; the blank task's placeholders are not one.
            var spec = new TrialSpec(SweepParameters.BlankTask(kind), new OptimizerSpec(OptimizerKind.Sgd), new Budget());
            foreach (var p in SweepParameters.All.Where(p => p.AppliesTo(kind) && !p.RequiredBy.Contains(kind) && p.Name != "optimizer"))
                Assert.True(Equals(p.Default, p.Get(spec)), $"{p.Name}: the table says {p.Default}, {kind}'s record {p.Get(spec)}");
        }
    }

    [Fact]
    public void Each_optimizer_reads_the_hyper_parameters_it_always_read_in_the_tables_order()
    {
        Assert.Equal(["lr"], OptimizerKind.Sgd.HyperParameters());
        Assert.Equal(["lr"], OptimizerKind.Adam.HyperParameters());
        Assert.Equal(["lr", "history_size"], OptimizerKind.Lbfgs.HyperParameters());
        Assert.Equal(["max_parameters"], OptimizerKind.Newton.HyperParameters());
        Assert.Equal(["lr", "max_steps", "scale_i", "variant"], OptimizerKind.KeepStepping.HyperParameters());
        Assert.Equal(["lr", "max_steps", "variant"], OptimizerKind.KeepVaulting.HyperParameters());
    }

    [Fact]
    public void Set_then_get_gives_the_value_back_for_every_parameter_a_task_kind_has()
    {
        object Sample(SweepParameter p) => (object?)p.Choices?[^1] ?? (p.Type switch
        {
            ParameterType.Integer => p.Name == "seed" ? 7L : (object)7,
            ParameterType.Number => 0.25,
            _ => "x.csv",
        });
        foreach (var kind in SweepParameters.TaskKinds)
        {
            var blank = new TrialSpec(SweepParameters.BlankTask(kind), new OptimizerSpec(OptimizerKind.KeepStepping), new Budget());
            foreach (var p in SweepParameters.All.Where(p => p.AppliesTo(kind)))
                Assert.Equal(Sample(p), p.Get(p.Set(blank, Sample(p))));
            // Grid files read whole numbers as longs.
            Assert.Equal(9, SweepParameters.Find("max_steps")!.Set(blank, 9L).Optimizer.MaxSteps);
        }
    }

    [Fact]
    public void The_seed_and_a_csv_mlps_layers_are_checked_where_they_are_read()
    {
        // A linear model has no hidden layers: its dim_hidden and n_layers are not read, so not checked.
        var linear = new CsvTaskSpec("/d.csv", "y", CsvModel.Linear, 0, -1);
        var spec = new TrialSpec(linear, new OptimizerSpec(OptimizerKind.Sgd), new Budget(), -1);
        Assert.Equal(["task.seed = -1: must be 0 or more"], spec.Problems().Select(p => p.ToString()));
        Assert.Equal(
        [
            "task.dim_hidden = 0: must be at least 1",
            "task.n_layers = -1: must be 0 or more",
        ], (linear with { Model = CsvModel.Mlp }).Problems().Select(p => p.ToString()));
    }

    [Fact]
    public void The_optimizers_configuration_is_spelled_as_results_spell_it()
    {
        Assert.Equal(["optimizer", "variant", "lr", "max_steps", "scale_i"], SweepParameters.OptimizerConfig(new OptimizerSpec(OptimizerKind.Newton)).Select(c => c.Key));
        Assert.Equal(
            ["optimizer=lbfgs", "variant=", "lr=0.5", "max_steps=", "scale_i=", "history_size=10"],
            SweepParameters.OptimizerConfig(new OptimizerSpec(OptimizerKind.Lbfgs, 0.5, HistorySize: 10), complete: true).Select(c => $"{c.Key}={c.Value}"));
    }

    [Fact]
    public void The_leaderboards_optimizer_is_spelled_as_the_trials_configuration()
    {
        foreach (var optimizer in new OptimizerSpec[] { new(OptimizerKind.KeepStepping, 1.5e-4, 50, 2), new(OptimizerKind.Lbfgs, 0.5, HistorySize: 10), new(OptimizerKind.Newton) })
        {
            var spec = new TrialSpec(new SyntheticTaskSpec(10, 2, 2, 0), optimizer, new Budget(3));
            var trial = Assert.Single(SweepPlans.FromSpec(new SweepSpec("s", [spec], new RankMetric())).Trials);
            Assert.Equal(ConfigText.Configuration(trial.Config), optimizer.ToString());
        }
        Assert.Equal("keep-stepping lr=0.00015 max_steps=50 scale_i=2 variant=seed", new OptimizerSpec(OptimizerKind.KeepStepping, 1.5e-4, 50, 2).ToString());
    }
}
