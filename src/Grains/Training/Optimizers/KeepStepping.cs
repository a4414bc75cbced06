using Descent.Contracts.Trials;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>
/// KeepStepping, from "More Descent, Less Gradient": after one gradient, keep stepping along it while the loss
/// falls, checking each step with a forward pass only, for at most <c>max_steps</c> steps.
/// <para><see cref="Variant.Seed"/> is the post's arithmetic exactly, quirks included: mini-step <c>i</c> adds
/// <c>(-lr - (-lr * scale_i * sqrt(i))) * grad</c>, i.e. <c>lr * (scale_i * sqrt(i) - 1) * grad</c>, which climbs
/// the gradient as soon as <c>scale_i * sqrt(i) &gt; 1</c> (with scale_i = 2, from the second mini-step on); the
/// first two mini-steps both use <c>i = 0</c>; up to <c>max_steps + 1</c> mini-steps are taken; the one that made
/// the loss worse is kept.</para>
/// <para><see cref="Variant.Corrected"/> is what the post meant: mini-step <c>i</c> moves
/// <c>lr * (1 + scale_i * sqrt(i))</c> down the gradient (impatience grows the step), at most <c>max_steps</c>
/// mini-steps, and a mini-step that made the loss worse is undone before returning.</para>
/// </summary>
public sealed class KeepStepping : KOptimizer
{
    readonly double _scaleI;
    readonly ParameterSnapshot _snapshot;

    public KeepStepping(IEnumerable<Parameter> parameters, double lr, int maxSteps = 20, double scaleI = 0, Variant variant = Variant.Seed)
        : base(parameters, lr, maxSteps, variant)
    {
        if (scaleI < 0.0) throw new ArgumentException($"Invalid scale_i: {scaleI}");
        _scaleI = scaleI;
        _snapshot = new ParameterSnapshot(Parameters);
    }

    protected override float StepSeed(float loss, LossProbe probe)
    {
        var oldLoss = loss; // the post calls closure() here, recomputing the loss it was just handed
        var i = 0;
        MiniStepSeed(i);
        var newLoss = probe();
        while (newLoss < oldLoss && i < MaxSteps)
        {
            MiniStepSeed(i);
            oldLoss = newLoss;
            newLoss = probe();
            i += 1;
        }
        return newLoss;
    }

    void MiniStepSeed(int i)
    {
        var scale = -Lr * _scaleI * Math.Sqrt(i);
        AddGradient(-Lr - scale);
    }

    protected override float StepCorrected(float loss, LossProbe probe)
    {
        var best = loss;
        for (var i = 0; i < MaxSteps; i++)
        {
            _snapshot.Save();
            AddGradient(-Lr * (1 + _scaleI * Math.Sqrt(i)));
            var next = probe();
            if (!(next < best))
            {
                _snapshot.Restore();
                break;
            }
            best = next;
        }
        return best;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _snapshot.Dispose();
        base.Dispose(disposing);
    }
}
