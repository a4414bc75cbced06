using Descent.Contracts.Trials;
using Descent.Grains.Training.Tasks;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>Builds the optimizer a spec names over a problem's model.</summary>
public static class TrialOptimizers
{
    /// <exception cref="ArgumentException">The spec names no optimizer, or newton's model is over its <c>max_parameters</c>.</exception>
    public static ITrialOptimizer Create(OptimizerSpec spec, Problem problem) => spec.Kind switch
    {
        OptimizerKind.Sgd => new TorchOptimizer(optim.SGD(problem.Parameters, spec.Lr)),
        OptimizerKind.Adam => new TorchOptimizer(optim.Adam(problem.Parameters, spec.Lr)),
        // One iteration per outer step without line search: exactly one gradient per step, like every other optimizer here.
        OptimizerKind.Lbfgs => new TorchOptimizer(optim.LBFGS(problem.Parameters, spec.Lr, max_iter: 1, history_size: spec.HistorySize), needsClosure: true),
        // Newton computes its derivatives on a float64 copy of the model, so it takes the problem, not only the parameters.
        OptimizerKind.Newton => new Newton(problem, spec.MaxParameters),
        OptimizerKind.KeepStepping => new KeepStepping(problem.Parameters, spec.Lr, spec.MaxSteps, spec.ScaleI, spec.Variant),
        OptimizerKind.KeepVaulting => new KeepVaulting(problem.Parameters, spec.Lr, spec.MaxSteps, spec.Variant),
        _ => throw new ArgumentException($"optimizer = \"{spec.Kind}\": no such optimizer"),
    };
}
