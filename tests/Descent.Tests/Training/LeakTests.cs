using Descent.Contracts.Trials;
using Descent.Grains.Training;
using TorchSharp;

namespace Descent.Tests.Training;

public class LeakTests
{
    /// <summary>Tensors created on this thread and not yet disposed. (Tensor.TotalCount is no use here: TorchSharp
    /// 0.107 counts every Parameter it creates twice and releases it once.)</summary>
    static long LiveTensors() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    [Fact]
    public void Hundreds_of_trials_leave_no_tensor_behind()
    {
        var every = TrainerTests.EveryOptimizer;
        foreach (var o in every) Trainer.Run(Specs.Trial(Specs.TinySynthetic, o, steps: 2));
        var before = LiveTensors();
        const int rounds = 25, steps = 3;
        for (var round = 0; round < rounds; round++)
            foreach (var o in every) Trainer.Run(Specs.Trial(Specs.TinySynthetic, o, steps: steps, seed: round));
        Trainer.Run(Specs.Trial(new CsvTaskSpec("/nonexistent.csv", "y"), every[0])); // a failed trial
        Trainer.Run(Specs.Trial(new SyntheticTaskSpec(256, 10, 10, 5), new OptimizerSpec(OptimizerKind.Sgd, Lr: 10), steps: 100)); // a diverged one
        // LBFGS's closure hands one tensor per step to native code, which frees it; TorchSharp's per-thread counter
        // does not see it leave. Those, and nothing else, may remain counted.
        var handedToNative = rounds * steps * every.Count(o => o.Kind == OptimizerKind.Lbfgs);
        Assert.Equal(before + handedToNative, LiveTensors());
    }
}
