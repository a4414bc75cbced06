using Descent.Contracts.Trials;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>
/// What KeepStepping and KeepVaulting share: one gradient per outer step, then moves along it checked by
/// loss-only forward passes. Usable as a TorchSharp optimizer (<see cref="step"/> with a closure) and by the trainer.
/// </summary>
public abstract class KOptimizer : OptimizerHelper, ITrialOptimizer
{
    protected KOptimizer(IEnumerable<Parameter> parameters, double lr, int maxSteps, Variant variant)
    {
        if (lr < 0.0) throw new ArgumentException($"Invalid learning rate: {lr}");
        if (maxSteps < 1) throw new ArgumentException($"Invalid max_steps: {maxSteps}");
        (Lr, MaxSteps, Variant) = (lr, maxSteps, variant);
        _defaults = new OptimizerOptions { LearningRate = lr, InitialLearningRate = lr };
        _parameter_groups = [new ParamGroup { Parameters = [.. parameters], Options = _defaults }];
    }

    protected double Lr { get; }
    protected int MaxSteps { get; }
    protected Variant Variant { get; }
    protected IEnumerable<Parameter> Parameters => _parameter_groups[0].Parameters;

    /// <summary>One outer step from parameters whose loss is <paramref name="loss"/> (already known, not
    /// recomputed); <paramref name="probe"/> measures the loss after a move. Returns the loss where it stops.</summary>
    public float Step(float loss, LossProbe probe) => Variant == Variant.Seed ? StepSeed(loss, probe) : StepCorrected(loss, probe);

    /// <summary>The post's arithmetic, quirks included.</summary>
    protected abstract float StepSeed(float loss, LossProbe probe);

    /// <summary>What the post meant.</summary>
    protected abstract float StepCorrected(float loss, LossProbe probe);

    /// <summary>TorchSharp's optimizer entry point: <paramref name="closure"/> evaluates the loss at the current parameters.</summary>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        ArgumentNullException.ThrowIfNull(closure, nameof(closure));
        float Probe()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return closure().item<float>();
        }
        return tensor(Step(Probe(), Probe));
    }

    void ITrialOptimizer.Backward(Tensor loss)
    {
        zero_grad();
        loss.backward();
    }

    float? ITrialOptimizer.Step(float loss, LossProbe probe) => Step(loss, probe);

    /// <summary><c>p += alpha * p.grad</c> for every parameter, in place, without a graph.</summary>
    protected void AddGradient(double alpha)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var p in Parameters)
        {
            var grad = p.grad;
            if (grad is null) continue;
            p.add_(grad, alpha: alpha);
        }
    }

    /// <summary><c>|grad|²</c> over all parameters, in double precision.</summary>
    protected double SquaredGradientNorm()
    {
        using var scope = NewDisposeScope();
        double sum = 0;
        foreach (var p in Parameters)
        {
            var grad = p.grad;
            if (grad is not null) sum += grad.to_type(ScalarType.Float64).square().sum().item<double>();
        }
        return sum;
    }
}
