using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Sweeps;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Client;

public class GridExpansionTests
{
    [Fact]
    public void The_example_grid_is_the_posts_benchmark()
    {
        var plan = GridFile.Load(Path.Combine(RepoRoot, "examples", "grid.json"));
        var names = plan.Trials.Select(t => t.Spec.Optimizer.Kind switch
        {
            OptimizerKind.KeepStepping => $"KS_{t.Spec.Optimizer.MaxSteps}_{t.Spec.Optimizer.ScaleI}",
            OptimizerKind.KeepVaulting => $"KV_{t.Spec.Optimizer.MaxSteps}",
            var k => k.ToString().ToUpperInvariant(),
        }).Order().ToList();
        Assert.Equal(["ADAM", "KS_10_0", "KS_10_2", "KS_50_0", "KS_50_2", "KV_10", "KV_50", "SGD"], names);
        Assert.All(plan.Trials, t => Assert.Equal(1e-3, t.Spec.Optimizer.Lr));
        Assert.All(plan.Trials, t => Assert.Equal(t.Spec.Optimizer.Kind is OptimizerKind.Sgd or OptimizerKind.Adam ? 1000 : 100, t.Spec.Budget.Steps));
        Assert.All(plan.Trials, t => Assert.Equal(Variant.Seed, t.Spec.Optimizer.Variant));
        Assert.Equal("post-benchmark", plan.Name);
        // 4 optimizers x 2 max_steps x 2 scale_i: 16 combinations; sgd, adam (3 each) and keep-vaulting (1) do not read scale_i or max_steps.
        Assert.Equal(16, plan.Expanded);
        Assert.Equal(8, plan.Collapsed);
    }

    [Fact]
    public void A_grid_is_the_cartesian_product_of_what_each_optimizer_reads()
    {
        var plan = Plan(Grid("""
            "optimizer": {"values": ["sgd", "keep-stepping", "keep-vaulting"]},
            "lr": {"values": [0.001, 0.01]},
            "max_steps": {"values": [10, 50, 100]},
            "scale_i": {"values": [0, 2]}
            """));
        // sgd: lr only (2); keep-stepping: 2 x 3 x 2 = 12; keep-vaulting: lr x max_steps = 6.
        Assert.Equal(2, plan.Trials.Count(t => t.Spec.Optimizer.Kind == OptimizerKind.Sgd));
        Assert.Equal(12, plan.Trials.Count(t => t.Spec.Optimizer.Kind == OptimizerKind.KeepStepping));
        Assert.Equal(6, plan.Trials.Count(t => t.Spec.Optimizer.Kind == OptimizerKind.KeepVaulting));
        Assert.Equal(20, plan.Trials.Select(t => t.Id).Distinct().Count());
        // Before collapsing, every optimizer meets every combination: 3 x 2 x 3 x 2.
        Assert.Equal(36, plan.Expanded);
        Assert.Equal(16, plan.Collapsed);
        var sgd = plan.Trials.First(t => t.Spec.Optimizer.Kind == OptimizerKind.Sgd);
        Assert.Equal(["optimizer", "variant", "lr", "max_steps", "scale_i"], sgd.Config.Select(c => c.Key));
        Assert.Null(Config(sgd, "max_steps"));
        Assert.Null(Config(sgd, "scale_i"));
        Assert.Null(Config(sgd, "variant"));
        var kv = plan.Trials.First(t => t.Spec.Optimizer.Kind == OptimizerKind.KeepVaulting);
        Assert.Equal("seed", Config(kv, "variant"));
        Assert.Null(Config(kv, "scale_i"));
        Assert.Equal(kv.Spec.Optimizer.MaxSteps, Convert.ToInt32(Config(kv, "max_steps")));
    }

    [Fact]
    public void Per_optimizer_gives_sgd_and_adam_their_own_budget_and_values()
    {
        var plan = Plan(Grid("""
            "optimizer": {"values": ["sgd", "adam", "keep-stepping"]},
            "lr": {"values": [0.001, 0.01]}
            """, """
            "per_optimizer": {"sgd": {"steps": {"value": 1000}}, "adam": {"lr": {"values": [0.1]}, "steps": 1000}},
            """));
        var sgd = plan.Trials.Where(t => t.Spec.Optimizer.Kind == OptimizerKind.Sgd).ToList();
        var adam = plan.Trials.Where(t => t.Spec.Optimizer.Kind == OptimizerKind.Adam).ToList();
        var ks = plan.Trials.Where(t => t.Spec.Optimizer.Kind == OptimizerKind.KeepStepping).ToList();
        Assert.Equal(2, sgd.Count);
        Assert.All(sgd, t => Assert.Equal(1000, t.Spec.Budget.Steps));
        Assert.All(sgd, t => Assert.Equal(1000L, Config(t, "steps")));
        Assert.Equal(0.1, Assert.Single(adam).Spec.Optimizer.Lr);
        Assert.Equal(1000, adam[0].Spec.Budget.Steps);
        Assert.Equal(2, ks.Count);
        Assert.All(ks, t => Assert.Equal(3, t.Spec.Budget.Steps));
        Assert.All(ks, t => Assert.DoesNotContain(t.Config, c => c.Key == "steps"));
    }

    [Fact]
    public void Repeats_run_each_configuration_under_consecutive_seeds_and_equal_trials_collapse()
    {
        var plan = Plan(Grid("""
            "optimizer": {"values": ["sgd"]},
            "lr": {"values": [0.001, 0.01]}
            """, "\"repeats\": 3,"));
        Assert.Equal(6, plan.Trials.Count);
        Assert.Equal((3, 6.0), (plan.Repeats, plan.Expanded)); // validate: "2 combinations x 3 repeats = 6 trials"
        Assert.Equal([0L, 1L, 2L, 0L, 1L, 2L], plan.Trials.Select(t => t.Spec.Seed));
        Assert.All(plan.Trials, t => Assert.Equal(t.Spec.Seed, Config(t, "seed")));

        // Seeds 0 and 1 repeated twice give 0, 1, 1, 2: the second seed-1 trial is the same trial and collapses.
        var overlapping = Plan(Grid("""
            "optimizer": {"values": ["sgd"]},
            "seed": {"values": [0, 1]}
            """, "\"repeats\": 2,", """{"kind": "synthetic", "n_row": 50, "dim_in": 3, "dim_hidden": 4, "n_layers": 1}"""));
        Assert.Equal(4, overlapping.Expanded);
        Assert.Equal(1, overlapping.Collapsed);
        Assert.Equal([0L, 1L, 2L], overlapping.Trials.Select(t => t.Spec.Seed));
    }

    [Fact]
    public void Task_and_budget_fields_can_be_swept()
    {
        var plan = Plan(Grid("""
            "optimizer": "adam",
            "n_row": {"values": [100, 200]},
            "budget.steps": [5, 7],
            "task.dim_hidden": 8
            """, task: """{"kind": "synthetic", "dim_in": 3, "n_layers": 1}""").Replace("\"budget\": {\"steps\": 3},", ""));
        Assert.Equal(4, plan.Trials.Count);
        Assert.Equal([(100, 5), (100, 7), (200, 5), (200, 7)],
            plan.Trials.Select(t => (((SyntheticTaskSpec)t.Spec.Task).NRow, t.Spec.Budget.Steps)));
        Assert.All(plan.Trials, t => Assert.Equal(8, ((SyntheticTaskSpec)t.Spec.Task).DimHidden));
        Assert.Equal(["optimizer", "variant", "lr", "max_steps", "scale_i", "n_row", "steps", "dim_hidden"], plan.Trials[0].Config.Select(c => c.Key));
    }

    [Fact]
    public void Random_search_draws_the_given_number_of_configurations_reproducibly()
    {
        const string parameters = """
            "optimizer": {"values": ["keep-stepping", "adam"]},
            "lr": {"distribution": "log_uniform", "min": 0.0001, "max": 0.1},
            "max_steps": {"distribution": "int_uniform", "min": 5, "max": 50},
            "scale_i": {"distribution": "uniform", "min": 0, "max": 3}
            """;
        var plan = Plan(Grid(parameters, "\"method\": \"random\", \"trials\": 40, \"seed\": 7,"));
        Assert.Equal(40, plan.Trials.Count);
        Assert.Equal("random", plan.Method);
        Assert.All(plan.Trials, t => Assert.InRange(t.Spec.Optimizer.Lr, 1e-4, 0.1));
        var ks = plan.Trials.Where(t => t.Spec.Optimizer.Kind == OptimizerKind.KeepStepping).ToList();
        Assert.NotEmpty(ks);
        Assert.Contains(plan.Trials, t => t.Spec.Optimizer.Kind == OptimizerKind.Adam);
        Assert.All(ks, t => Assert.InRange(t.Spec.Optimizer.MaxSteps, 5, 50));
        Assert.All(ks, t => Assert.InRange(t.Spec.Optimizer.ScaleI, 0, 3));
        // log_uniform: about as many draws below 0.0032 (the geometric middle) as above it.
        Assert.InRange(plan.Trials.Count(t => t.Spec.Optimizer.Lr < Math.Sqrt(1e-4 * 0.1)), 10, 30);

        var again = Plan(Grid(parameters, "\"method\": \"random\", \"trials\": 40, \"seed\": 7,"));
        Assert.Equal(plan.Trials.Select(t => t.Id), again.Trials.Select(t => t.Id));
        var other = Plan(Grid(parameters, "\"method\": \"random\", \"trials\": 40, \"seed\": 8,"));
        Assert.NotEqual(plan.Trials.Select(t => t.Id), other.Trials.Select(t => t.Id));
    }

    [Fact]
    public void Random_search_over_values_collapses_repeated_draws()
    {
        var plan = Plan(Grid("""
            "optimizer": {"values": ["sgd"]},
            "lr": {"values": [0.001, 0.01]}
            """, "\"method\": \"random\", \"trials\": 30,"));
        Assert.Equal(30, plan.Expanded);
        Assert.Equal(2, plan.Trials.Count);
        Assert.Equal(28, plan.Collapsed);
    }

    [Fact]
    public void A_csv_task_path_is_resolved_against_the_grid_files_folder()
    {
        var folder = Folder();
        File.WriteAllText(Path.Combine(folder, "data.csv"), "x,y\n1,2\n2,4\n");
        var path = Write(Grid("\"optimizer\": \"newton\"", task: """{"kind": "csv", "path": "data.csv", "target": "y"}"""), folder);
        var plan = GridFile.Load(path);
        var task = Assert.IsType<CsvTaskSpec>(Assert.Single(plan.Trials).Spec.Task);
        Assert.Equal(Path.Combine(folder, "data.csv"), task.Path);
        Assert.Equal(CsvModel.Linear, task.Model);
    }

    [Fact]
    public void The_plan_submits_its_trials_with_the_metric()
    {
        var plan = Plan(Grid("\"optimizer\": [\"sgd\", \"adam\"]",
            "\"metric\": {\"name\": \"gradients_to_target\", \"goal\": \"minimize\", \"target\": 0.5}, \"max_retries\": 1,"));
        var spec = plan.ToSweepSpec();
        Assert.Equal(new RankMetric(MetricKind.GradientsToTarget, 0.5), spec.Metric);
        Assert.Equal(1, spec.MaxRetries);
        Assert.Equal(plan.Trials.Select(t => t.Id), spec.Trials.Select(TrialIdentity.Of));
        Assert.Empty(spec.Problems());
    }

    [Fact]
    public void A_target_metric_without_its_own_target_uses_the_budgets_target_loss()
    {
        var plan = Plan("""
            {"task": {"kind": "linear", "n_row": 20, "k": 2}, "budget": {"steps": 5, "target_loss": 0.01},
             "metric": {"name": "time_to_target"}, "parameters": {"optimizer": ["newton"]}}
            """);
        Assert.Equal(new RankMetric(MetricKind.TimeToTarget, 0.01), plan.Metric);
        Assert.Equal("grid", plan.Method);
        Assert.Equal("grid", plan.Name);
    }

    [Fact]
    public void Plans_rebuilt_from_a_submitted_sweep_show_what_varies()
    {
        var plan = Plan(Grid("""
            "optimizer": {"values": ["keep-stepping"]},
            "n_row": [100, 200],
            "max_steps": [5]
            """, task: """{"kind": "synthetic", "dim_in": 3, "dim_hidden": 4, "n_layers": 1}"""));
        // A spec built in code carries no plan: the configurations are derived from the specs.
        var rebuilt = SweepPlans.FromSpec(plan.ToSweepSpec() with { Plan = null });
        Assert.Equal(plan.Trials.Select(t => t.Id), rebuilt.Trials.Select(t => t.Id));
        Assert.Equal(100, Config(rebuilt.Trials[0], "n_row"));
        Assert.Null(Config(rebuilt.Trials[0], "dim_in"));
        Assert.Equal(5, Config(rebuilt.Trials[0], "max_steps"));
    }

    [Fact]
    public void A_submitted_sweep_carries_its_grid_and_each_trials_configuration()
    {
        var text = Grid("""
            "optimizer": ["sgd", "keep-stepping"], "lr": [0.001, 0.25], "max_steps": [5], "n_row": [100, 200]
            """, task: """{"kind": "synthetic", "dim_in": 3, "dim_hidden": 4, "n_layers": 1}""");
        var plan = Plan(text);
        var spec = plan.ToSweepSpec();
        Assert.Empty(spec.Problems());
        Assert.NotNull(spec.Plan);
        Assert.Contains("\"max_steps\": [5]", spec.Plan!.Grid);
        Assert.Equal("grid", spec.Plan.Method);
        var rebuilt = SweepPlans.FromSpec(spec);
        Assert.Equal("grid", rebuilt.Method);
        Assert.Equal(plan.Trials.Select(t => t.Id), rebuilt.Trials.Select(t => t.Id));
        // Same keys, order and values as the sweep showed: what leaderboard and status print for it.
        Assert.Equal(plan.Trials.Select(t => Descent.Contracts.Trials.ConfigText.Configuration(t.Config)),
            rebuilt.Trials.Select(t => Descent.Contracts.Trials.ConfigText.Configuration(t.Config)));
        Assert.Equal(plan.Trials.Select(t => string.Join(",", t.Config.Select(c => c.Key))), rebuilt.Trials.Select(t => string.Join(",", t.Config.Select(c => c.Key))));
        var short1 = spec with { Plan = spec.Plan with { Configs = [.. spec.Plan.Configs.Skip(1)] } };
        Assert.Contains(short1.Problems(), p => p.Field == "plan.configs");
    }
}
