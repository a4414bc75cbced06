namespace Descent.Contracts.Trials;

/// <summary>When a trial stops: after <see cref="Steps"/> outer steps (gradient evaluations), after
/// <see cref="Seconds"/> of wall time, or once the loss at the start of a step is at most <see cref="TargetLoss"/>,
/// whichever comes first.</summary>
[GenerateSerializer, Immutable, Alias("descent.budget")]
public sealed record Budget(
    [property: Id(0)] int Steps = 100,
    [property: Id(1)] double? Seconds = null,
    [property: Id(2)] double? TargetLoss = null)
{
    /// <summary>Every problem with the budget's fields (<see cref="SweepParameter.Range"/>).</summary>
    public IEnumerable<SpecProblem> Problems() => SweepParameters.Problems(SweepParameters.Budget, this);
}

/// <summary>
/// One trial: everything that decides its loss trajectory. Equal specs train identically on any node, which is
/// what makes a trial's identity derivable from its configuration. The device is not part of it.
/// </summary>
/// <param name="Seed">Seeds the data and the initial weights (the post's <c>torch.manual_seed</c>).</param>
[GenerateSerializer, Immutable, Alias("descent.trial-spec")]
public sealed record TrialSpec(
    [property: Id(0)] TaskSpec Task,
    [property: Id(1)] OptimizerSpec Optimizer,
    [property: Id(2)] Budget Budget,
    [property: Id(3)] long Seed = 0)
{
    /// <summary>Every problem with this spec, each naming the field and the value.</summary>
    public IReadOnlyList<SpecProblem> Problems() =>
        [.. Task.Problems(), .. SweepParameters.Problems(SweepParameters.Trial, this), .. Optimizer.Problems(), .. Budget.Problems()];

    /// <summary>Throws <see cref="SpecException"/> listing every problem, if there is any.</summary>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0) throw new SpecException(problems);
    }
}
