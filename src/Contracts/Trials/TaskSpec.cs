namespace Descent.Contracts.Trials;

/// <summary>What a trial trains: the data and the model. Grid files name them `synthetic`, `linear`, `csv`.</summary>
[GenerateSerializer, Immutable, Alias("descent.task")]
public abstract record TaskSpec
{
    /// <summary>The grid-file name of the task kind.</summary>
    public abstract string Kind { get; }

    /// <summary>Every problem with this task's fields, each naming the field and the value
    /// (<see cref="SweepParameter.Range"/>).</summary>
    public virtual IEnumerable<SpecProblem> Problems() => SweepParameters.Problems(SweepParameters.Task, this);
}

/// <summary>
/// The post's <c>generate_new_dataset(n_row, dim_in, dim_hidden, n_layers)</c>: standard-normal inputs, the
/// target is their row sum, and the model is a stack of linear layers without activations.
/// </summary>
[GenerateSerializer, Immutable, Alias("descent.task.synthetic")]
public sealed record SyntheticTaskSpec(
    [property: Id(0)] int NRow,
    [property: Id(1)] int DimIn,
    [property: Id(2)] int DimHidden,
    [property: Id(3)] int NLayers) : TaskSpec
{
    public override string Kind => SweepParameters.Synthetic;
}

/// <summary>
/// The post's first experiment: an intercept column plus <see cref="Features"/> standard-normal features,
/// true weights drawn from N(0, 5²), targets <c>X·w</c> plus optional Gaussian noise, fitted by a linear model.
/// </summary>
[GenerateSerializer, Immutable, Alias("descent.task.linear")]
public sealed record LinearTaskSpec(
    [property: Id(0)] int NRow,
    [property: Id(1)] int Features,
    [property: Id(2)] double Noise = 0) : TaskSpec
{
    public override string Kind => SweepParameters.Linear;
}

/// <summary>The model a CSV task fits.</summary>
[GenerateSerializer]
public enum CsvModel
{
    /// <summary>One linear layer with a bias.</summary>
    Linear,
    /// <summary>The synthetic task's shape: input layer, <c>n_layers</c> hidden layers, output layer, no activations.</summary>
    Mlp,
}

/// <summary>A user's CSV file with a header row: every column but <see cref="Target"/> is a feature.</summary>
/// <param name="Path">The file; the grid layer resolves it against the grid file's folder.</param>
[GenerateSerializer, Immutable, Alias("descent.task.csv")]
public sealed record CsvTaskSpec(
    [property: Id(0)] string Path,
    [property: Id(1)] string Target,
    [property: Id(2)] CsvModel Model = CsvModel.Linear,
    [property: Id(3)] int DimHidden = 10,
    [property: Id(4)] int NLayers = 0) : TaskSpec
{
    public override string Kind => SweepParameters.Csv;

    public override IEnumerable<SpecProblem> Problems()
    {
        if (string.IsNullOrWhiteSpace(Path)) yield return SpecProblem.Of("task.path", Path, "must name a CSV file");
        if (string.IsNullOrWhiteSpace(Target)) yield return SpecProblem.Of("task.target", Target, "must name the target column");
        foreach (var problem in base.Problems()) yield return problem;
    }
}
