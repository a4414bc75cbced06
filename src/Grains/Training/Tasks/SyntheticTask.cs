using Descent.Contracts.Trials;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Tasks;

/// <summary>The post's <c>generate_new_dataset</c>, draw for draw: <c>x = randn(n_row, dim_in)</c>,
/// <c>y = x.sum(1)</c> as a column, then the model from the same generator stream.</summary>
static class SyntheticTask
{
    public static (Tensor X, Tensor Y, nn.Module<Tensor, Tensor> Model) Draw(SyntheticTaskSpec spec)
    {
        using var scope = NewDisposeScope();
        var x = randn(spec.NRow, spec.DimIn);
        var y = x.sum(1).reshape(-1, 1);
        var model = Problem.Architecture(spec, spec.DimIn);
        return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), model);
    }
}
