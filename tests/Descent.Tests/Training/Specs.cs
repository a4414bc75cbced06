using Descent.Contracts.Trials;

namespace Descent.Tests.Training;

/// <summary>Small trial specs for tests.</summary>
static class Specs
{
    public static readonly SyntheticTaskSpec TinySynthetic = new(NRow: 256, DimIn: 4, DimHidden: 4, NLayers: 1);
    public static readonly LinearTaskSpec SmallLinear = new(NRow: 500, Features: 4, Noise: 0.3);

    public static TrialSpec Trial(TaskSpec task, OptimizerSpec optimizer, int steps = 10, long seed = 0) =>
        new(task, optimizer, new Budget(steps), seed);
}
