using System.Globalization;
using Descent.Grains.Training.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>
/// Newton's method on all parameters at once: the exact gradient and Hessian of the loss by double backward (one
/// backward pass per parameter), in float64 on a float64 copy of the model at the same parameters
/// (<see cref="Problem.InDoublePrecision"/>), then the step <c>d = H⁺ g</c> from the eigendecomposition of the
/// symmetrised Hessian, never from its inverse. Eigenvalues below <see cref="RelativeCutoff"/> × the largest in
/// magnitude count as 0 and their directions get no step: where <c>H</c> is singular, or singular up to rounding
/// (collinear columns, a constant column beside a bias, the symmetries of deep linear networks), this is the
/// minimum-norm least-squares solution of <c>H d = g</c> (<c>numpy.linalg.pinv</c> with that <c>rcond</c>).
/// On linear least squares one step lands on the least-squares minimum. <see cref="Note"/> says which steps
/// found the Hessian rank-deficient.
/// </summary>
public sealed class Newton : ITrialOptimizer
{
    /// <summary>The spacing of float64 numbers at 1 (<c>numpy.finfo(float64).eps</c>, 2⁻⁵²).</summary>
    const double Float64Epsilon = 2.220446049250313e-16;

    readonly Parameter[] _parameters;
    readonly long _count;
    readonly DoublePrecisionLoss _double;
    readonly Tensor[] _doubleParameters;
    readonly List<(int Step, long Rank)> _rankDeficient = [];
    int _step;
    Tensor? _gradient;
    Tensor? _hessian;

    /// <param name="problem">The model whose float32 parameters the steps move, and its loss.</param>
    /// <param name="maxParameters">The largest parameter count accepted: the Hessian holds n² doubles and costs n backward passes.</param>
    /// <exception cref="ArgumentException">The model has more than <paramref name="maxParameters"/> parameters (checked
    /// before anything is allocated).</exception>
    public Newton(Problem problem, int maxParameters)
    {
        _parameters = [.. problem.Parameters];
        _count = _parameters.Sum(p => p.numel());
        if (_count > maxParameters)
            throw new ArgumentException(
                $"max_parameters = {maxParameters}: newton needs the full Hessian and this model has {_count} parameters " +
                $"({TrialMemory.Bytes(_count * _count * 8.0)} of Hessian, {_count} backward passes per step); " +
                "raise max_parameters or choose a smaller model");
        _double = problem.InDoublePrecision();
        _doubleParameters = [.. _double.Parameters];
    }

    /// <summary>Eigenvalues of the Hessian below this fraction of the largest (in magnitude) are treated as 0: the
    /// parameter count times float64's epsilon.</summary>
    /// <remarks>LAPACK's and numpy's practice for <c>lstsq</c>, <c>pinv</c> and <c>matrix_rank</c>: the epsilon of the
    /// matrix's dtype times its size, the rounding a float64 Hessian of that size carries. Measured on 200-row float32
    /// CSV fits: collinear columns give eigenvalues of at most 1.1e-16 × the largest (3e-16 where the file's float32
    /// rounding breaks the collinearity), under this cutoff, while the real directions of badly scaled columns stay
    /// far above it (8e-8 for columns on scales 1e3 apart, 4e-9 for a column around 3e3 beside the bias), where a
    /// float32 Hessian's rounding (about 1e-7 of the largest) hid them.</remarks>
    public double RelativeCutoff => _count * Float64Epsilon;

    /// <summary>Computes the gradient and the Hessian at the current parameters in float64; <paramref name="loss"/> (the
    /// float32 loss there) gives the device.</summary>
    public void Backward(Tensor loss)
    {
        _step++;
        using var scope = NewDisposeScope();
        var parameters = _doubleParameters;
        // create_graph keeps the gradient differentiable; retain_graph must be said too (TorchSharp defaults it to
        // false even with create_graph), or the second backward pass finds the graph freed and the process aborts.
        var gradient = Flatten(autograd.grad([_double.Loss()], parameters, retain_graph: true, create_graph: true), parameters);
        var hessian = zeros(_count, _count, dtype: ScalarType.Float64, device: loss.device);
        for (long i = 0; i < _count; i++)
        {
            TrialHeartbeat.Beat(); // a backward pass per parameter: a long phase, but not a hung one
            using var row = NewDisposeScope();
            var second = autograd.grad([gradient[i]], parameters, retain_graph: true, allow_unused: true);
            hessian[i].copy_(Flatten(second, parameters));
        }
        _gradient?.Dispose();
        _hessian?.Dispose();
        _gradient = gradient.detach().MoveToOuterDisposeScope();
        _hessian = hessian.MoveToOuterDisposeScope();
    }

    /// <exception cref="DivergedException">The gradient or the Hessian has non-finite entries.</exception>
    public float? Step(float loss, LossProbe probe)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (direction, rank) = Solve(_hessian!, _gradient!, RelativeCutoff);
        if (rank < _count) _rankDeficient.Add((_step, rank));
        long offset = 0;
        foreach (var p in _parameters)
        {
            var n = p.numel();
            p.sub_(direction.narrow(0, offset, n).view_as(p).to_type(p.dtype));
            offset += n;
        }
        return null;
    }

    /// <summary>One line when some step's Hessian was rank-deficient: the ranks, the cutoff and the steps.</summary>
    public string? Note
    {
        get
        {
            if (_rankDeficient.Count == 0) return null;
            var (low, high) = (_rankDeficient.Min(d => d.Rank), _rankDeficient.Max(d => d.Rank));
            var rank = low == high ? $"{low}" : $"{low}-{high}";
            return string.Create(CultureInfo.InvariantCulture,
                $"newton: the Hessian was rank-deficient (rank {rank} of {_count}, eigenvalues below {RelativeCutoff:0.0e+00} × the largest treated as 0) " +
                $"in {Steps([.. _rankDeficient.Select(d => d.Step)])}: took the minimum-norm step");
        }
    }

    /// <summary><c>H⁺ g</c> with <c>H</c> symmetrised, <c>[n]</c> float64, and the number of eigenvalues kept.</summary>
    static (Tensor Direction, long Rank) Solve(Tensor hessian, Tensor gradient, double relativeCutoff)
    {
        if (!hessian.isfinite().all().item<bool>() || !gradient.isfinite().all().item<bool>())
            throw new DivergedException("newton: the gradient or the Hessian has non-finite entries");
        // Double backward gives H symmetric only up to rounding; eigh reads one triangle, so average the two.
        var (values, vectors) = linalg.eigh((hessian + hessian.t()) * 0.5);
        var magnitude = values.abs();
        var kept = magnitude > relativeCutoff * magnitude.max().item<double>();
        var inverse = where(kept, values.reciprocal(), zeros_like(values));
        var direction = vectors.mv(inverse * vectors.t().mv(gradient));
        return (direction, kept.sum().item<long>());
    }

    /// <summary>Steps as runs: "step 2", "steps 1-3, 7"; past four runs, the count and the first and last.</summary>
    static string Steps(IReadOnlyList<int> steps)
    {
        if (steps.Count == 1) return $"step {steps[0]}";
        var runs = new List<(int First, int Last)>();
        foreach (var s in steps)
            if (runs.Count > 0 && runs[^1].Last == s - 1) runs[^1] = (runs[^1].First, s);
            else runs.Add((s, s));
        return runs.Count <= 4
            ? "steps " + string.Join(", ", runs.Select(r => r.First == r.Last ? $"{r.First}" : $"{r.First}-{r.Last}"))
            : $"{steps.Count} steps from {steps[0]} to {steps[^1]}";
    }

    static Tensor Flatten(IList<Tensor> parts, Tensor[] parameters) =>
        cat([.. parts.Select((g, i) => g is null || g.IsInvalid ? zeros_like(parameters[i]).reshape(-1) : g.reshape(-1))]);

    public void Dispose()
    {
        _gradient?.Dispose();
        _hessian?.Dispose();
        _double.Dispose();
    }
}
