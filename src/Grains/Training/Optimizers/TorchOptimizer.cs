using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>TorchSharp's own optimizers (sgd, adam, lbfgs) behind <see cref="ITrialOptimizer"/>.</summary>
sealed class TorchOptimizer(optim.Optimizer inner, bool needsClosure = false) : ITrialOptimizer
{
    Tensor? _loss;

    public void Backward(Tensor loss)
    {
        inner.zero_grad();
        loss.backward();
        _loss = loss;
    }

    public float? Step(float loss, LossProbe probe)
    {
        if (!needsClosure)
        {
            inner.step();
            return null;
        }
        // LBFGS runs with max_iter = 1 and no line search, so it calls the closure exactly once, at the
        // parameters whose loss and gradient Backward has just computed: hand it that loss, do not recompute.
        // The native side takes ownership of what the closure returns, hence a fresh alias.
        using var returned = inner.step(() => _loss!.detach());
        return null;
    }

    public void Dispose() => inner.Dispose();
}
