namespace Descent.Contracts.Trials;

/// <summary>The optimizers a trial can use. <see cref="OptimizerNames"/> gives their grid-file names.</summary>
[GenerateSerializer]
public enum OptimizerKind
{
    Sgd,
    Adam,
    Lbfgs,
    Newton,
    KeepStepping,
    KeepVaulting,
}

/// <summary>Which arithmetic KeepStepping and KeepVaulting use.</summary>
[GenerateSerializer]
public enum Variant
{
    /// <summary>The post's code exactly, quirks included (see docs/optimizers.md).</summary>
    Seed,
    /// <summary>What the post meant: growing impatience, undone overshoots, a parabola line search.</summary>
    Corrected,
}

/// <summary>Grid-file names of optimizers and variants, and which hyper-parameters each optimizer reads.</summary>
public static class OptimizerNames
{
    static readonly Dictionary<OptimizerKind, string> Names = new()
    {
        [OptimizerKind.Sgd] = "sgd",
        [OptimizerKind.Adam] = "adam",
        [OptimizerKind.Lbfgs] = "lbfgs",
        [OptimizerKind.Newton] = "newton",
        [OptimizerKind.KeepStepping] = "keep-stepping",
        [OptimizerKind.KeepVaulting] = "keep-vaulting",
    };

    public static string Name(this OptimizerKind kind) => Names[kind];

    public static string Name(this Variant variant) => variant == Variant.Seed ? "seed" : "corrected";

    public static bool TryParse(string name, out OptimizerKind kind)
    {
        foreach (var (k, n) in Names)
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase)) { kind = k; return true; }
        kind = default;
        return false;
    }

    public static bool TryParseVariant(string name, out Variant variant)
    {
        foreach (var v in Enum.GetValues<Variant>())
            if (string.Equals(v.Name(), name, StringComparison.OrdinalIgnoreCase)) { variant = v; return true; }
        variant = default;
        return false;
    }

    /// <summary>The hyper-parameters (grid names) that <paramref name="kind"/> reads; the others are dropped for it
    /// (<see cref="SweepParameter.ReadBy"/>).</summary>
    public static IReadOnlySet<string> HyperParameters(this OptimizerKind kind) => SweepParameters.HyperParameters(kind);
}

/// <summary>
/// An optimizer and its hyper-parameters. Fields an optimizer does not read keep their defaults, so two specs
/// that train identically compare equal (see <see cref="Normalized"/>). Each field is a row of
/// <see cref="SweepParameters.Optimizer"/>, whose default its C# default repeats (C# needs a constant here).
/// </summary>
/// <param name="Lr">Learning rate: the step size of sgd, adam, lbfgs and of a K-optimizer's first mini-step.</param>
/// <param name="MaxSteps">K-optimizers: the most mini-steps taken along one gradient.</param>
/// <param name="ScaleI">KeepStepping: how fast impatience grows the mini-step.</param>
/// <param name="HistorySize">lbfgs: how many curvature pairs it keeps.</param>
/// <param name="MaxParameters">newton: the largest model whose Hessian it will build (n² floats, n backward passes).</param>
[GenerateSerializer, Immutable, Alias("descent.optimizer")]
public sealed record OptimizerSpec(
    [property: Id(0)] OptimizerKind Kind,
    [property: Id(1)] double Lr = 1e-3,
    [property: Id(2)] int MaxSteps = 20,
    [property: Id(3)] double ScaleI = 0,
    [property: Id(4)] Variant Variant = Variant.Seed,
    [property: Id(5)] int HistorySize = 100,
    [property: Id(6)] int MaxParameters = 2048)
{
    /// <summary>This spec with every field its optimizer does not read set back to its default.</summary>
    public OptimizerSpec Normalized() =>
        SweepParameters.Optimizer.Aggregate(this, (o, p) => p.Reads(o) || p.Default is null ? o : p.Write(o, p.Default));

    /// <summary>Every problem with the hyper-parameters this optimizer reads (<see cref="SweepParameter.Range"/>).</summary>
    public IEnumerable<SpecProblem> Problems() => SweepParameters.Problems(SweepParameters.Optimizer, this);

    /// <summary>The optimizer and every setting it reads, as results write a configuration (<see cref="ConfigText"/>):
    /// <c>keep-stepping lr=0.001 max_steps=50 scale_i=2 variant=seed</c>, <c>lbfgs lr=0.5 history_size=100</c>.</summary>
    public override string ToString() => ConfigText.Configuration(SweepParameters.OptimizerConfig(this, complete: true));
}
