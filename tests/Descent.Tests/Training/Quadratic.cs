using Descent.Grains.Training.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Tests.Training;

/// <summary>A one-parameter problem, loss(w) = (w - 4)², driven through an optimizer the way the trainer drives it.</summary>
sealed class Quadratic : IDisposable
{
    public const float Minimum = 4f;
    public readonly Parameter W;

    public Quadratic(float w0) => W = new Parameter(tensor(new[] { w0 }));

    public float Value => W.item<float>();

    Tensor Loss() => (W - Minimum).square().sum();

    public float Probe()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        ProbeCount++;
        return Loss().item<float>();
    }

    public int ProbeCount { get; private set; }

    /// <summary>One outer step: forward with graph, backward, optimizer step. Returns the loss at the start.</summary>
    public float OuterStep(ITrialOptimizer optimizer)
    {
        using var scope = NewDisposeScope();
        var loss = Loss();
        var value = loss.item<float>();
        optimizer.Backward(loss);
        optimizer.Step(value, Probe);
        return value;
    }

    public void Dispose() => W.Dispose();
}

/// <summary>The post's KeepStepping and KeepVaulting written again for one float32 parameter, straight from its
/// Python listings (independent of the implementation under test). The gradient of (w - 4)² is 2(w - 4).</summary>
static class PostReference
{
    static float Loss(float w) { var d = w - Quadratic.Minimum; return d * d; }
    static float Add(float w, double alpha, float grad) => w + (float)alpha * grad; // p.data.add_(alpha, d_p) in float32

    public static (float W, List<float> Starts) KeepSteppingSeed(float w, double lr, int maxSteps, double scaleI, int outerSteps)
    {
        var starts = new List<float>();
        for (var t = 0; t < outerSteps; t++)
        {
            var oldLoss = Loss(w);
            starts.Add(oldLoss);
            var grad = 2 * (w - Quadratic.Minimum);
            var i = 0;
            w = Add(w, -lr - (-lr * scaleI * Math.Sqrt(i)), grad);
            var newLoss = Loss(w);
            while (newLoss < oldLoss && i < maxSteps)
            {
                w = Add(w, -lr - (-lr * scaleI * Math.Sqrt(i)), grad);
                oldLoss = newLoss;
                newLoss = Loss(w);
                i += 1;
            }
        }
        return (w, starts);
    }

    public static (float W, List<float> Starts) KeepVaultingSeed(float w, double lr, int maxSteps, int outerSteps)
    {
        var starts = new List<float>();
        for (var t = 0; t < outerSteps; t++)
        {
            var oldLoss = Loss(w);
            starts.Add(oldLoss);
            var grad = 2 * (w - Quadratic.Minimum);
            var i = 0;
            w = Add(w, -(lr * 1.0), grad);
            var newLoss = Loss(w);
            var losses = new List<double> { oldLoss, newLoss };
            while (newLoss < oldLoss && i < maxSteps)
            {
                var firstOrderGrad1 = (losses[^1] - losses[^2]) / lr;
                var secondOrderGrad = (losses[^1] - firstOrderGrad1) / lr;
                var stepsize = -secondOrderGrad / firstOrderGrad1 * lr;
                w = Add(w, -(lr * stepsize), grad);
                oldLoss = newLoss;
                newLoss = Loss(w);
                losses.Add(newLoss);
                i += 1;
            }
        }
        return (w, starts);
    }
}
