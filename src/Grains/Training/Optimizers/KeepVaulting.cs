using Descent.Contracts.Trials;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>
/// KeepVaulting, from "More Descent, Less Gradient": after one gradient, choose how far to vault along it from
/// the losses measured on the way, for at most <c>max_steps</c> vaults.
/// <para><see cref="Variant.Seed"/> is the post's arithmetic exactly, quirks included: after a first step of
/// <c>lr</c>, each vault takes <c>g1 = (L[-1] - L[-2]) / lr</c> and a "second derivative"
/// <c>(L[-1] - g1) / lr</c> (a loss minus a slope, not a secant of slopes), then moves
/// <c>-(lr * (-second / g1 * lr)) * grad</c>; it continues while the loss falls, for up to <c>max_steps + 1</c>
/// vaults, and keeps the vault that made the loss worse.</para>
/// <para><see cref="Variant.Corrected"/> is a quadratic-interpolation line search along the fixed direction
/// <c>-grad</c>: with <c>φ(t)</c> the loss at <c>p - t·grad</c>, it knows <c>φ(0)</c> and the exact slope
/// <c>φ'(0) = -|grad|²</c>, probes <c>t = lr</c>, then repeatedly jumps to the minimum of the parabola through
/// <c>φ(0)</c>, <c>φ'(0)</c> and the best point so far; where that parabola has no positive curvature it doubles
/// <c>t</c> instead. It stops when a vault does not lower the loss (going back to the best point), when the next
/// vault would land within 0.1% of the best one, or after <c>max_steps</c> vaults.</para>
/// </summary>
public sealed class KeepVaulting : KOptimizer
{
    const double Settled = 1e-3;

    readonly ParameterSnapshot _start;

    public KeepVaulting(IEnumerable<Parameter> parameters, double lr, int maxSteps = 20, Variant variant = Variant.Seed)
        : base(parameters, lr, maxSteps, variant)
    {
        _start = new ParameterSnapshot(Parameters);
    }

    protected override float StepSeed(float loss, LossProbe probe)
    {
        var oldLoss = loss; // the post calls closure() here, recomputing the loss it was just handed
        var i = 0;
        AddGradient(-(Lr * 1.0));
        var newLoss = probe();
        var losses = new List<double> { oldLoss, newLoss };
        while (newLoss < oldLoss && i < MaxSteps)
        {
            var firstOrderGrad1 = (losses[^1] - losses[^2]) / Lr;
            var secondOrderGrad = (losses[^1] - firstOrderGrad1) / Lr;
            var stepsize = -secondOrderGrad / firstOrderGrad1 * Lr;
            AddGradient(-(Lr * stepsize));
            oldLoss = newLoss;
            newLoss = probe();
            losses.Add(newLoss);
            i += 1;
        }
        return newLoss;
    }

    protected override float StepCorrected(float loss, LossProbe probe)
    {
        var slope = -SquaredGradientNorm(); // φ'(0) along -grad
        if (!(slope < 0) || !double.IsFinite(slope)) return loss; // zero or unusable gradient: nowhere to go
        _start.Save();
        double bestT = 0, bestLoss = loss, t = Lr, at = 0;
        for (var vault = 0; vault < MaxSteps; vault++)
        {
            MoveTo(t, ref at);
            var measured = probe();
            if (!(measured < bestLoss)) break;
            (bestT, bestLoss) = (t, measured);
            var curvature = (bestLoss - loss - slope * bestT) / (bestT * bestT); // φ(t) ≈ φ(0) + φ'(0)t + c·t²
            var next = curvature > 0 ? -slope / (2 * curvature) : 2 * bestT;
            if (!double.IsFinite(next) || next <= 0 || Math.Abs(next - bestT) <= Settled * bestT) break;
            t = next;
        }
        MoveTo(bestT, ref at);
        return (float)bestLoss;
    }

    /// <summary>Sets the parameters to <c>start - t·grad</c> exactly (from the saved start, not by accumulation).</summary>
    void MoveTo(double t, ref double at)
    {
        if (t == at) return;
        _start.Restore();
        if (t != 0) AddGradient(-t);
        at = t;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _start.Dispose();
        base.Dispose(disposing);
    }
}
