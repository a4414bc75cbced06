using Descent.Contracts.Trials;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Tasks;

/// <summary>The post's linear regression: <c>X = [1, randn(n, k)]</c>, <c>true_w ~ N(0, 5²)</c>, <c>y = X·true_w</c>
/// (+ noise), and a linear model without bias (the ones column is the intercept) whose weights start at N(0, 1)
/// as the post's <c>W</c> does. Throws <see cref="TaskDataException"/> when the noise makes targets overflow float32.</summary>
static class LinearTask
{
    public static (Tensor X, Tensor Y, nn.Module<Tensor, Tensor> Model) Draw(LinearTaskSpec spec)
    {
        using var scope = NewDisposeScope();
        var x = cat([ones(spec.NRow, 1), randn(spec.NRow, spec.Features)], dim: 1);
        var trueW = randn(spec.Features + 1, 1) * 5;
        var y = x.matmul(trueW);
        if (spec.Noise > 0) y = y + randn(spec.NRow, 1) * spec.Noise;
        // The spec allows any noise float32 holds, but noise·ε can still pass float32's range where |ε| > 1.
        if (y.isfinite().logical_not().sum().item<long>() is var overflowed and > 0)
            throw new TaskDataException(SpecProblem.Of("task.noise", spec.Noise,
                $"{overflowed} of {spec.NRow} targets y = X·w + noise·ε overflow float32; lower the noise").ToString());
        var model = (Linear)Problem.Architecture(spec, spec.Features + 1);
        using (no_grad()) model.weight.copy_(randn(1, spec.Features + 1));
        return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), model);
    }
}
