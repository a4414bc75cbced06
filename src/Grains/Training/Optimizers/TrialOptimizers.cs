using Descent.Contracts.Trials;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>Builds the optimizer a spec names over a model's parameters.</summary>
public static class TrialOptimizers
{
    public static ITrialOptimizer Create(OptimizerSpec spec, IReadOnlyList<Parameter> parameters) => spec.Kind switch
    {
        OptimizerKind.Sgd => new TorchOptimizer(optim.SGD(parameters, spec.Lr)),
        OptimizerKind.Adam => new TorchOptimizer(optim.Adam(parameters, spec.Lr)),
        // One iteration per outer step without line search: exactly one gradient per step, like every other optimizer here.
        OptimizerKind.Lbfgs => new TorchOptimizer(optim.LBFGS(parameters, spec.Lr, max_iter: 1, history_size: spec.HistorySize), needsClosure: true),
        OptimizerKind.Newton => new Newton(parameters, spec.MaxParameters),
        OptimizerKind.KeepStepping => new KeepStepping(parameters, spec.Lr, spec.MaxSteps, spec.ScaleI, spec.Variant),
        OptimizerKind.KeepVaulting => new KeepVaulting(parameters, spec.Lr, spec.MaxSteps, spec.Variant),
        _ => throw new ArgumentException($"optimizer = \"{spec.Kind}\": no such optimizer"),
    };
}
