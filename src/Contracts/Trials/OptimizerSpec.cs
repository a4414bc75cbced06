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

    /// <summary>The hyper-parameters (grid names) that <paramref name="kind"/> reads; the others are dropped for it.</summary>
    public static IReadOnlySet<string> HyperParameters(this OptimizerKind kind) => kind switch
    {
        OptimizerKind.Sgd or OptimizerKind.Adam => new HashSet<string> { "lr" },
        OptimizerKind.Lbfgs => new HashSet<string> { "lr", "history_size" },
        OptimizerKind.Newton => new HashSet<string> { "max_parameters" },
        OptimizerKind.KeepStepping => new HashSet<string> { "lr", "max_steps", "scale_i", "variant" },
        OptimizerKind.KeepVaulting => new HashSet<string> { "lr", "max_steps", "variant" },
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}

/// <summary>
/// An optimizer and its hyper-parameters. Fields an optimizer does not read keep their defaults, so two specs
/// that train identically compare equal (see <see cref="Normalized"/>).
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
    static readonly OptimizerSpec Defaults = new(OptimizerKind.Sgd);

    /// <summary>This spec with every field its optimizer does not read set back to the default.</summary>
    public OptimizerSpec Normalized()
    {
        var uses = Kind.HyperParameters();
        return this with
        {
            Lr = uses.Contains("lr") ? Lr : Defaults.Lr,
            MaxSteps = uses.Contains("max_steps") ? MaxSteps : Defaults.MaxSteps,
            ScaleI = uses.Contains("scale_i") ? ScaleI : Defaults.ScaleI,
            Variant = uses.Contains("variant") ? Variant : Defaults.Variant,
            HistorySize = uses.Contains("history_size") ? HistorySize : Defaults.HistorySize,
            MaxParameters = uses.Contains("max_parameters") ? MaxParameters : Defaults.MaxParameters,
        };
    }

    public IEnumerable<SpecProblem> Problems()
    {
        var uses = Kind.HyperParameters();
        if (uses.Contains("lr") && !(Lr > 0 && FiniteNumbers.InFloat32(Lr)))
            yield return SpecProblem.Of("lr", Lr, "must be a finite number above 0" + FiniteNumbers.Overflow(Lr, "the parameters it moves"));
        if (uses.Contains("max_steps") && MaxSteps < 1) yield return SpecProblem.Of("max_steps", MaxSteps, "must be at least 1");
        if (uses.Contains("scale_i") && !(ScaleI >= 0 && FiniteNumbers.InFloat32(ScaleI)))
            yield return SpecProblem.Of("scale_i", ScaleI, "must be a finite number of 0 or more" + FiniteNumbers.Overflow(ScaleI, "the parameters it moves"));
        if (uses.Contains("history_size") && HistorySize < 1) yield return SpecProblem.Of("history_size", HistorySize, "must be at least 1");
        if (uses.Contains("max_parameters") && MaxParameters < 1) yield return SpecProblem.Of("max_parameters", MaxParameters, "must be at least 1");
    }

    public override string ToString()
    {
        var uses = Kind.HyperParameters();
        var parts = new List<string>();
        if (uses.Contains("lr")) parts.Add(FormattableString.Invariant($"lr={Lr:g6}"));
        if (uses.Contains("max_steps")) parts.Add($"max_steps={MaxSteps}");
        if (uses.Contains("scale_i")) parts.Add(FormattableString.Invariant($"scale_i={ScaleI:g6}"));
        if (uses.Contains("variant")) parts.Add($"variant={Variant.Name()}");
        if (uses.Contains("history_size")) parts.Add($"history_size={HistorySize}");
        if (uses.Contains("max_parameters")) parts.Add($"max_parameters={MaxParameters}");
        return $"{Kind.Name()}({string.Join(", ", parts)})";
    }
}
