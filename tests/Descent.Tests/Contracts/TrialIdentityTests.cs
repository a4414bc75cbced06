using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Sweeps;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Contracts;

/// <summary>Trial ids, and the configurations results show, pinned to what they were before the parameter table
/// (computed on main at 35da9b7): results on disk and resubmitted sweeps rely on ids never changing.</summary>
public class TrialIdentityTests
{
    public static readonly TheoryData<TrialSpec, string, string> Specs = new()
    {
        {
            new(new SyntheticTaskSpec(20000, 10, 10, 5), new OptimizerSpec(OptimizerKind.KeepStepping, 1e-3, 50, 2), new Budget(100)),
            "be5aa0cdc290a6e6", "synthetic,20000,10,10,5|keep-stepping,0.001,50,2,seed,100,2048|budget,100,-,-|seed,0"
        },
        {
            // sgd reads lr only: the other settings go back to their defaults.
            new(new SyntheticTaskSpec(20000, 10, 10, 5), new OptimizerSpec(OptimizerKind.Sgd, 1e-3, MaxSteps: 50, ScaleI: 2, Variant: Variant.Corrected, HistorySize: 7), new Budget(1000)),
            "c007e7625f52ac59", "synthetic,20000,10,10,5|sgd,0.001,20,0,seed,100,2048|budget,1000,-,-|seed,0"
        },
        {
            new(new SyntheticTaskSpec(10, 2, 2, 0), new OptimizerSpec(OptimizerKind.Adam, 3e-4), new Budget(3), 1),
            "8dc7a473b4a55c90", "synthetic,10,2,2,0|adam,0.0003,20,0,seed,100,2048|budget,3,-,-|seed,1"
        },
        {
            new(new LinearTaskSpec(1000, 10, 0.5), new OptimizerSpec(OptimizerKind.Newton, 0.5, MaxParameters: 64), new Budget(1), 3),
            "2cf6f2f17793ca20", "linear,1000,10,0.5|newton,0.001,20,0,seed,100,64|budget,1,-,-|seed,3"
        },
        {
            new(new LinearTaskSpec(5000, 5), new OptimizerSpec(OptimizerKind.KeepVaulting, 0.1, 10, 1.5, Variant.Corrected), new Budget(100, null, 1e-4), 1L << 53),
            "1860a9a322930a4c", "linear,5000,5,0|keep-vaulting,0.1,10,0,corrected,100,2048|budget,100,-,0.0001|seed,9007199254740992"
        },
        {
            new(new CsvTaskSpec("/data/x.csv", "price", CsvModel.Mlp, 8, 2), new OptimizerSpec(OptimizerKind.Lbfgs, 0.5, HistorySize: 10), new Budget(5, 30, 0.01), 7),
            "83f9fd2e2434e5a1", "csv,/data/x.csv,price,Mlp,8,2|lbfgs,0.5,20,0,seed,10,2048|budget,5,30,0.01|seed,7"
        },
        {
            new(new CsvTaskSpec("/data/prices, 2024.csv", "y"), new OptimizerSpec(OptimizerKind.KeepStepping, 0.1000001, 20, 0.25, Variant.Corrected), new Budget(50, 2.5)),
            "0339053296663f3c", "csv,/data/prices, 2024.csv,y,Linear,10,0|keep-stepping,0.1000001,20,0.25,corrected,100,2048|budget,50,2.5,-|seed,0"
        },
    };

    [Theory, MemberData(nameof(Specs))]
    public void A_specs_id_and_canonical_text_are_what_they_always_were(TrialSpec spec, string id, string canonical)
    {
        Assert.Equal(canonical, TrialIdentity.Canonical(spec));
        Assert.Equal(id, TrialIdentity.Of(spec));
    }

    /// <summary>Each trial as "id key=value ...", its configuration's keys in order (empty: null).</summary>
    static IEnumerable<string> Lines(SweepPlan plan) =>
        plan.Trials.Select(t => $"{t.Id} {string.Join(" ", t.Config.Select(c => $"{c.Key}={ConfigText.Value(c.Value)}"))}");

    [Fact]
    public void The_examples_plan_the_trials_they_always_planned()
    {
        Assert.Equal(
        [
            "2a19dea73b131cd8 optimizer=keep-stepping variant=seed lr=0.001 max_steps=50 scale_i=0",
            "be5aa0cdc290a6e6 optimizer=keep-stepping variant=seed lr=0.001 max_steps=50 scale_i=2",
            "57ef5f8da5b17765 optimizer=keep-stepping variant=seed lr=0.001 max_steps=10 scale_i=0",
            "bae50cc11ddffa24 optimizer=keep-stepping variant=seed lr=0.001 max_steps=10 scale_i=2",
            "bdfe3924cfd07533 optimizer=keep-vaulting variant=seed lr=0.001 max_steps=50 scale_i=",
            "9b83a1c746efba45 optimizer=keep-vaulting variant=seed lr=0.001 max_steps=10 scale_i=",
            "c007e7625f52ac59 optimizer=sgd variant= lr=0.001 max_steps= scale_i= steps=1000",
            "0fbe5bb17749dc55 optimizer=adam variant= lr=0.001 max_steps= scale_i= steps=1000",
        ], Lines(GridFile.Load(Path.Combine(RepoRoot, "examples", "grid.json"))));

        var random = Lines(GridFile.Load(Path.Combine(RepoRoot, "examples", "random.json"))).ToList();
        Assert.Equal(24, random.Count);
        Assert.Equal(
        [
            "3873777145e21a1f optimizer=adam variant= lr=0.0001913 max_steps= scale_i= steps=1000 seed=0",
            "a4c255ba0c56c6c7 optimizer=adam variant= lr=0.0001913 max_steps= scale_i= steps=1000 seed=1",
            "dd7e06a622e4720b optimizer=keep-vaulting variant=seed lr=0.0002172 max_steps=37 scale_i= seed=0",
            "2320e355f4bb7084 optimizer=keep-vaulting variant=seed lr=0.0002172 max_steps=37 scale_i= seed=1",
            "7fa32a506f8d6a85 optimizer=keep-stepping variant=corrected lr=0.0001514 max_steps=39 scale_i=0.1324 seed=0",
            "953d5c8c72d899ac optimizer=keep-stepping variant=corrected lr=0.0001514 max_steps=39 scale_i=0.1324 seed=1",
            "4ad9ef76f75b1ae0 optimizer=keep-stepping variant=seed lr=0.0001063 max_steps=9 scale_i=2.155 seed=0",
        ], random.Where((_, i) => i is 0 or 1 or 2 or 3 or 10 or 11 or 22));
    }

    [Fact]
    public void Lbfgs_newton_and_a_linear_task_plan_the_trials_they_always_planned_from_a_grid_and_from_a_submitted_sweep()
    {
        var plan = Plan("""
            {"name": "mixed", "task": {"kind": "linear", "n_row": 200, "k": 3}, "budget": {"steps": 4, "seconds": 60},
             "parameters": {"optimizer": ["lbfgs", "newton", "keep-vaulting"], "noise": [0, 0.25], "history_size": 5,
                            "max_parameters": 16, "variant": "corrected", "lr": 0.3},
             "per_optimizer": {"newton": {"steps": 1}}, "repeats": 2}
            """);
        Assert.Equal(
        [
            "43ceb363927649bb optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= noise=0 history_size=5 seed=0",
            "b2556c6b0646408b optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= noise=0 history_size=5 seed=1",
            "9d4595bccf6c8ec1 optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= noise=0.25 history_size=5 seed=0",
            "eb1713d24dd9cc0e optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= noise=0.25 history_size=5 seed=1",
            "df7d76c9f9dd321d optimizer=newton variant= lr= max_steps= scale_i= noise=0 max_parameters=16 steps=1 seed=0",
            "a7626d8d89b28003 optimizer=newton variant= lr= max_steps= scale_i= noise=0 max_parameters=16 steps=1 seed=1",
            "ab2afaa4b186f37f optimizer=newton variant= lr= max_steps= scale_i= noise=0.25 max_parameters=16 steps=1 seed=0",
            "8f2f8e63eec4260b optimizer=newton variant= lr= max_steps= scale_i= noise=0.25 max_parameters=16 steps=1 seed=1",
            "b7302a7d0c47dc7d optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0 seed=0",
            "d1196822b41741f0 optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0 seed=1",
            "38d185f1dbb69903 optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0.25 seed=0",
            "b4423b217e6ba3c0 optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0.25 seed=1",
        ], Lines(plan));
        // A submitted sweep carries its plan: every command shows the configurations the sweep showed.
        Assert.Equal(Lines(plan), Lines(SweepPlans.FromSpec(plan.ToSweepSpec())));
        // A sweep built in code (no plan): every setting the optimizer reads, then the task and budget fields that vary.
        Assert.Equal(
        [
            "43ceb363927649bb optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= history_size=5 noise=0 seed=0 steps=4",
            "b2556c6b0646408b optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= history_size=5 noise=0 seed=1 steps=4",
            "9d4595bccf6c8ec1 optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= history_size=5 noise=0.25 seed=0 steps=4",
            "eb1713d24dd9cc0e optimizer=lbfgs variant= lr=0.3 max_steps= scale_i= history_size=5 noise=0.25 seed=1 steps=4",
            "df7d76c9f9dd321d optimizer=newton variant= lr= max_steps= scale_i= max_parameters=16 noise=0 seed=0 steps=1",
            "a7626d8d89b28003 optimizer=newton variant= lr= max_steps= scale_i= max_parameters=16 noise=0 seed=1 steps=1",
            "ab2afaa4b186f37f optimizer=newton variant= lr= max_steps= scale_i= max_parameters=16 noise=0.25 seed=0 steps=1",
            "8f2f8e63eec4260b optimizer=newton variant= lr= max_steps= scale_i= max_parameters=16 noise=0.25 seed=1 steps=1",
            "b7302a7d0c47dc7d optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0 seed=0 steps=4",
            "d1196822b41741f0 optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0 seed=1 steps=4",
            "38d185f1dbb69903 optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0.25 seed=0 steps=4",
            "b4423b217e6ba3c0 optimizer=keep-vaulting variant=corrected lr=0.3 max_steps=20 scale_i= noise=0.25 seed=1 steps=4",
        ], Lines(SweepPlans.FromSpec(plan.ToSweepSpec() with { Plan = null })));
    }

    [Fact]
    public void A_csv_grid_builds_the_spec_it_always_built()
    {
        var folder = Folder();
        File.WriteAllText(Path.Combine(folder, "data.csv"), "x,y\n1,2\n2,4\n");
        var plan = GridFile.Load(Write("""
            {"task": {"kind": "csv", "path": "data.csv", "target": "y", "dim_hidden": 3}, "budget": {"steps": 3, "target_loss": 0.5},
             "parameters": {"optimizer": ["sgd", "keep-stepping"], "model": ["linear", "MLP"], "n_layers": 2, "lr": 0.1, "scale_i": 1}}
            """, folder));
        var data = Path.Combine(folder, "data.csv");
        var budget = new Budget(3, null, 0.5);
        Assert.Equal(
        [
            new(new CsvTaskSpec(data, "y", CsvModel.Linear, 3, 2), new OptimizerSpec(OptimizerKind.Sgd, 0.1), budget),
            new(new CsvTaskSpec(data, "y", CsvModel.Mlp, 3, 2), new OptimizerSpec(OptimizerKind.Sgd, 0.1), budget),
            new(new CsvTaskSpec(data, "y", CsvModel.Linear, 3, 2), new OptimizerSpec(OptimizerKind.KeepStepping, 0.1, ScaleI: 1), budget),
            new TrialSpec(new CsvTaskSpec(data, "y", CsvModel.Mlp, 3, 2), new OptimizerSpec(OptimizerKind.KeepStepping, 0.1, ScaleI: 1), budget),
        ], plan.Trials.Select(t => t.Spec));
        Assert.Equal(
        [
            "optimizer=sgd variant= lr=0.1 max_steps= scale_i= model=linear n_layers=2",
            "optimizer=sgd variant= lr=0.1 max_steps= scale_i= model=mlp n_layers=2",
            "optimizer=keep-stepping variant=seed lr=0.1 max_steps=20 scale_i=1 model=linear n_layers=2",
            "optimizer=keep-stepping variant=seed lr=0.1 max_steps=20 scale_i=1 model=mlp n_layers=2",
        ], Lines(plan).Select(l => l[17..]));
    }
}
