using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>
/// Newton's method on all parameters at once: the exact Hessian of the loss by double backward (one backward
/// pass per parameter), then the step <c>H d = g</c> solved in double precision, never by inverting <c>H</c>.
/// On linear least squares one step lands on the closed-form fit. Where <c>H</c> is singular (deep linear
/// networks have symmetries) it takes the minimum-norm least-squares solution instead.
/// </summary>
public sealed class Newton : ITrialOptimizer
{
    readonly Parameter[] _parameters;
    readonly long _count;
    Tensor? _gradient;
    Tensor? _hessian;

    /// <param name="maxParameters">The largest parameter count accepted: the Hessian holds n² doubles and costs n backward passes.</param>
    public Newton(IEnumerable<Parameter> parameters, int maxParameters)
    {
        _parameters = [.. parameters];
        _count = _parameters.Sum(p => p.numel());
        if (_count > maxParameters)
            throw new ArgumentException(
                $"max_parameters = {maxParameters}: newton needs the full Hessian and this model has {_count} parameters " +
                $"({_count * _count * 8.0 / (1 << 20):F0} MiB of Hessian, {_count} backward passes per step); " +
                "raise max_parameters or choose a smaller model");
    }

    public void Backward(Tensor loss)
    {
        using var scope = NewDisposeScope();
        // create_graph keeps the gradient differentiable; retain_graph must be said too (TorchSharp defaults it to
        // false even with create_graph), or the second backward pass finds the graph freed and the process aborts.
        var gradient = Flatten(autograd.grad([loss], _parameters, retain_graph: true, create_graph: true));
        var hessian = zeros(_count, _count, dtype: ScalarType.Float64, device: loss.device);
        for (long i = 0; i < _count; i++)
        {
            using var row = NewDisposeScope();
            var second = autograd.grad([gradient[i]], _parameters, retain_graph: true, allow_unused: true);
            hessian[i].copy_(Flatten(second));
        }
        _gradient?.Dispose();
        _hessian?.Dispose();
        _gradient = gradient.detach().to_type(ScalarType.Float64).MoveToOuterDisposeScope();
        _hessian = hessian.MoveToOuterDisposeScope();
    }

    public float? Step(float loss, LossProbe probe)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var direction = Solve(_hessian!, _gradient!);
        long offset = 0;
        foreach (var p in _parameters)
        {
            var n = p.numel();
            p.sub_(direction.narrow(0, offset, n).view_as(p).to_type(p.dtype));
            offset += n;
        }
        return null;
    }

    static Tensor Solve(Tensor hessian, Tensor gradient)
    {
        if (!hessian.isfinite().all().item<bool>() || !gradient.isfinite().all().item<bool>())
            throw new DivergedException("newton: the gradient or the Hessian has non-finite entries");
        try
        {
            var d = linalg.solve(hessian, gradient);
            if (d.isfinite().all().item<bool>()) return d;
        }
        catch (Exception e) when (e is InvalidOperationException or ExternalException) { } // singular: least squares instead
        return linalg.lstsq(hessian, gradient.unsqueeze(1)).Solution.squeeze(1);
    }

    Tensor Flatten(IList<Tensor> parts) =>
        cat([.. parts.Select((g, i) => g is null || g.IsInvalid ? zeros_like(_parameters[i]).reshape(-1) : g.reshape(-1))]);

    public void Dispose()
    {
        _gradient?.Dispose();
        _hessian?.Dispose();
    }
}
