namespace Descent.Grains.Training;

/// <summary>Thrown by an optimizer whose arithmetic left the finite numbers (say, an overflowing Hessian);
/// the trainer reports the trial as diverged, like a non-finite loss.</summary>
public sealed class DivergedException(string message) : Exception(message);
