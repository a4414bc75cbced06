using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Optimizers;

/// <summary>A copy of parameter values to return to exactly (undoing a step by subtracting it again would not be exact
/// in floating point). Buffers are allocated on first use and reused.</summary>
sealed class ParameterSnapshot(IEnumerable<Parameter> parameters) : IDisposable
{
    readonly Parameter[] _parameters = [.. parameters];
    Tensor[]? _copies;

    public void Save()
    {
        using var _ = no_grad();
        _copies ??= [.. _parameters.Select(Copy)];
        for (var i = 0; i < _parameters.Length; i++) _copies[i].copy_(_parameters[i]);
    }

    // Owned by the snapshot, not by whatever dispose scope the caller has open.
    static Tensor Copy(Parameter p)
    {
        using var detached = p.detach();
        return detached.clone().DetachFromDisposeScope();
    }

    public void Restore()
    {
        using var _ = no_grad();
        for (var i = 0; i < _parameters.Length; i++) _parameters[i].copy_(_copies![i]);
    }

    public void Dispose()
    {
        foreach (var c in _copies ?? []) c.Dispose();
    }
}
