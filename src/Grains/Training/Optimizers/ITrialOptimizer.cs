using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>Measures the loss at the current parameters without building a graph (a forward pass, timed and
/// counted as one by the trainer).</summary>
public delegate float LossProbe();

/// <summary>The trainer's view of an optimizer: what happens between one forward pass with a graph and the next.</summary>
public interface ITrialOptimizer : IDisposable
{
    /// <summary>Computes the derivatives the step needs from <paramref name="loss"/> (one gradient evaluation).</summary>
    void Backward(Tensor loss);

    /// <summary>Moves the parameters. <paramref name="loss"/> is the loss at the current parameters, already known;
    /// <paramref name="probe"/> measures it elsewhere. Returns the loss at the new parameters when the step
    /// measured it, otherwise null.</summary>
    float? Step(float loss, LossProbe probe);

    /// <summary>One line about how the steps so far were taken that a user should read next to the loss (Newton: which
    /// steps found the Hessian rank-deficient), or null. The trainer puts it in the trial's message, whatever the
    /// trial's status, and may read it after <see cref="IDisposable.Dispose"/> (a failed trial's), so it must not need tensors.</summary>
    string? Note => null;
}
