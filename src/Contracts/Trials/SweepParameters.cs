using System.Globalization;

namespace Descent.Contracts.Trials;

/// <summary>Where a parameter belongs: the trial's optimizer, its task (grid files also write <c>task.n_row</c>) or its
/// budget (<c>budget.steps</c>).</summary>
public enum ParameterSection { Optimizer, Task, Budget }

/// <summary>A parameter's type in grid files: a whole number, a real number or a name. <see cref="SweepParameter.Get"/>
/// gives an <see cref="int"/> (the seed: a <see cref="long"/>), a <see cref="double"/> or a <see cref="string"/>;
/// <see cref="SweepParameter.Set"/> takes those, or the longs grid files are read as.</summary>
public enum ParameterType { Integer, Number, Text }

/// <summary>A parameter's valid values when they are a plain range: at least <paramref name="Min"/>, or above it when
/// <paramref name="AboveMin"/>. Real numbers must also be finite, and within float32's range when
/// <paramref name="Float32"/> names what they enter (they move or make float32 tensors: 1e39 is a double, but an
/// infinity once it meets the model).</summary>
public sealed record ValueRange(double Min, bool AboveMin = false, string? Float32 = null)
{
    /// <summary>Why <paramref name="value"/> is out of range, worded as the contracts have always worded it; null when it
    /// is in range or not set.</summary>
    public string? Problem(ParameterType type, object? value)
    {
        var min = Min.ToString(CultureInfo.InvariantCulture);
        switch (value)
        {
            case int or long when type == ParameterType.Integer:
                return Convert.ToInt64(value, CultureInfo.InvariantCulture) >= Min ? null : Min == 0 ? "must be 0 or more" : $"must be at least {min}";
            case double number when type == ParameterType.Number:
                var finite = Float32 is null ? double.IsFinite(number) : FiniteNumbers.InFloat32(number);
                if (finite && (AboveMin ? number > Min : number >= Min)) return null;
                var bound = AboveMin ? $"above {min}" : Min == 0 ? "of 0 or more" : $"of at least {min}";
                return $"must be a finite number {bound}" + (Float32 is null ? "" : FiniteNumbers.Overflow(number, Float32));
            default:
                return null;
        }
    }
}

/// <summary>One row of <see cref="SweepParameters"/>: a parameter as grid files name it, where it belongs, its type,
/// default and valid values, who reads it, and how its value is read from and written to a <see cref="TrialSpec"/>.</summary>
public abstract class SweepParameter(string name, ParameterSection section, ParameterType type)
{
    /// <summary>The grid-file name: <c>lr</c>, <c>n_row</c>, <c>steps</c>.</summary>
    public string Name { get; } = name;

    public ParameterSection Section { get; } = section;

    public ParameterType Type { get; } = type;

    /// <summary>The value when nothing sets it (as <see cref="Get"/> gives it); null when there is
    /// none: required (<see cref="RequiredBy"/>, the optimizer) or optional (<c>budget.seconds</c>).</summary>
    public object? Default { get; init; }

    /// <summary>Valid values when they are a plain range; checked by the contracts where the parameter is read.</summary>
    public ValueRange? Range { get; init; }

    /// <summary>For names: the ones accepted (in any case).</summary>
    public IReadOnlyList<string>? Choices { get; init; }

    /// <summary>Optimizer parameters: the optimizers that read it. For the others it is dropped from the grid, set back to
    /// its default (<see cref="OptimizerSpec.Normalized"/>) and null in results.</summary>
    public IReadOnlyList<OptimizerKind> ReadBy { get; init; } = [];

    /// <summary>Task parameters: the task kinds that have it; empty: every kind.</summary>
    public IReadOnlyList<string> TaskKinds { get; init; } = [];

    /// <summary>Task parameters: the task kinds that cannot do without it.</summary>
    public IReadOnlyList<string> RequiredBy { get; init; } = [];

    /// <summary>results.json's <c>config</c> always has this key, null where the optimizer does not read it; other
    /// parameters appear there when swept (or, for a submitted sweep, when read).</summary>
    public bool AlwaysInConfig { get; init; }

    /// <summary>How <see cref="SpecProblem"/>s name this parameter: <c>lr</c>, <c>task.n_row</c>, <c>budget.steps</c>.</summary>
    public string ProblemField => Section switch
    {
        ParameterSection.Task => "task." + Name,
        ParameterSection.Budget => "budget." + Name,
        _ => Name,
    };

    public bool AppliesTo(string taskKind) => TaskKinds.Count == 0 || TaskKinds.Contains(taskKind);

    /// <summary>Does a trial of <paramref name="optimizer"/> read this parameter? Task and budget parameters: always.</summary>
    public bool UsedBy(OptimizerKind optimizer) => Section != ParameterSection.Optimizer || ReadBy.Contains(optimizer);

    /// <summary>The value in <paramref name="spec"/> (see <see cref="ParameterType"/>); null where its task kind does not
    /// have it or it is not set.</summary>
    public abstract object? Get(TrialSpec spec);

    /// <summary><paramref name="spec"/> with this parameter set to <paramref name="value"/> (see <see cref="ParameterType"/>);
    /// unchanged where its task kind does not have it.</summary>
    public abstract TrialSpec Set(TrialSpec spec, object value);
}

/// <summary>A parameter that lives on a <typeparamref name="T"/>: an <see cref="OptimizerSpec"/>, a
/// <see cref="TaskSpec"/>, a <see cref="Budget"/> or the <see cref="TrialSpec"/> itself (the seed).</summary>
public sealed class SweepParameter<T>(
    string name, ParameterSection section, ParameterType type,
    Func<TrialSpec, T> part, Func<TrialSpec, T, TrialSpec> withPart,
    Func<T, object?> read, Func<T, object, T> write, Func<T, bool> reads) : SweepParameter(name, section, type) where T : class
{
    public object? Read(T record) => read(record);

    public T Write(T record, object value) => write(record, value);

    /// <summary>Does <paramref name="record"/> read this parameter (its optimizer, its task kind and model)?</summary>
    public bool Reads(T record) => reads(record);

    public override object? Get(TrialSpec spec) => read(part(spec));

    public override TrialSpec Set(TrialSpec spec, object value) => withPart(spec, write(part(spec), value));
}

/// <summary>
/// Every parameter of a trial, once: grid files' fields, the hyper-parameters each optimizer reads, defaults, plain
/// range checks, and what results show all derive from these rows, and so do trial ids (<c>TrialIdentity</c>).
/// Adding a hyper-parameter is adding a row to <see cref="Optimizer"/>, its property to <see cref="OptimizerSpec"/>
/// (with the row's default as its C# default), and the optimizer's code that reads it (<c>TrialOptimizers.Create</c>
/// in Descent.Grains). Existing trial ids do not change: a new parameter joins an id only where it is not at its default.
/// </summary>
public static class SweepParameters
{
    public const string Synthetic = "synthetic", Linear = "linear", Csv = "csv";

    /// <summary>The task kinds, as grid files and <see cref="TaskSpec.Kind"/> name them.</summary>
    public static readonly IReadOnlyList<string> TaskKinds = [Synthetic, Linear, Csv];

    static readonly OptimizerKind[] Every = Enum.GetValues<OptimizerKind>();
    static readonly OptimizerKind[] WithLr = [OptimizerKind.Sgd, OptimizerKind.Adam, OptimizerKind.Lbfgs, OptimizerKind.KeepStepping, OptimizerKind.KeepVaulting];
    static readonly OptimizerKind[] KOptimizers = [OptimizerKind.KeepStepping, OptimizerKind.KeepVaulting];
    const string MovesParameters = "the parameters it moves";

    /// <summary>The optimizer and its hyper-parameters, in the order trial ids list them.</summary>
    public static readonly IReadOnlyList<SweepParameter<OptimizerSpec>> Optimizer =
    [
        OptimizerField("optimizer", ParameterType.Text, Every, null, o => o.Kind.Name(),
            (o, v) => o with { Kind = OptimizerNames.TryParse((string)v, out var kind) ? kind : OptimizerKind.Sgd },
            choices: [.. Every.Select(k => k.Name())], alwaysInConfig: true),
        OptimizerField("lr", ParameterType.Number, WithLr, 1e-3, o => o.Lr, (o, v) => o with { Lr = Real(v) },
            range: new(0, AboveMin: true, Float32: MovesParameters), alwaysInConfig: true),
        OptimizerField("max_steps", ParameterType.Integer, KOptimizers, 20, o => o.MaxSteps, (o, v) => o with { MaxSteps = Whole(v) },
            range: new(1), alwaysInConfig: true),
        OptimizerField("scale_i", ParameterType.Number, [OptimizerKind.KeepStepping], 0.0, o => o.ScaleI, (o, v) => o with { ScaleI = Real(v) },
            range: new(0, Float32: MovesParameters), alwaysInConfig: true),
        OptimizerField("variant", ParameterType.Text, KOptimizers, "seed", o => o.Variant.Name(),
            (o, v) => o with { Variant = OptimizerNames.TryParseVariant((string)v, out var variant) ? variant : Variant.Seed },
            choices: [.. Enum.GetValues<Variant>().Select(v => v.Name())], alwaysInConfig: true),
        OptimizerField("history_size", ParameterType.Integer, [OptimizerKind.Lbfgs], 100, o => o.HistorySize,
            (o, v) => o with { HistorySize = Whole(v) }, range: new(1)),
        OptimizerField("max_parameters", ParameterType.Integer, [OptimizerKind.Newton], 2048, o => o.MaxParameters,
            (o, v) => o with { MaxParameters = Whole(v) }, range: new(1)),
    ];

    /// <summary>The task's fields, each for the kinds that have it; per kind, in the order trial ids and results list
    /// them. A kind's required fields have no default.</summary>
    public static readonly IReadOnlyList<SweepParameter<TaskSpec>> Task =
    [
        TaskField("n_row", ParameterType.Integer, [Synthetic, Linear], null, t => t switch
            {
                SyntheticTaskSpec s => s.NRow,
                LinearTaskSpec l => l.NRow,
                _ => null,
            },
            (t, v) => t switch
            {
                SyntheticTaskSpec s => s with { NRow = Whole(v) },
                LinearTaskSpec l => l with { NRow = Whole(v) },
                _ => t,
            },
            range: new(1), requiredBy: [Synthetic, Linear]),
        TaskField("dim_in", ParameterType.Integer, [Synthetic], null, t => t is SyntheticTaskSpec s ? s.DimIn : null,
            (t, v) => t is SyntheticTaskSpec s ? s with { DimIn = Whole(v) } : t, range: new(1), requiredBy: [Synthetic]),
        TaskField("k", ParameterType.Integer, [Linear], null, t => t is LinearTaskSpec l ? l.Features : null,
            (t, v) => t is LinearTaskSpec l ? l with { Features = Whole(v) } : t, range: new(0), requiredBy: [Linear]),
        TaskField("noise", ParameterType.Number, [Linear], 0.0, t => t is LinearTaskSpec l ? l.Noise : null,
            (t, v) => t is LinearTaskSpec l ? l with { Noise = Real(v) } : t, range: new(0, Float32: "the data")),
        TaskField("path", ParameterType.Text, [Csv], null, t => t is CsvTaskSpec c ? c.Path : null,
            (t, v) => t is CsvTaskSpec c ? c with { Path = (string)v } : t, requiredBy: [Csv]),
        TaskField("target", ParameterType.Text, [Csv], null, t => t is CsvTaskSpec c ? c.Target : null,
            (t, v) => t is CsvTaskSpec c ? c with { Target = (string)v } : t, requiredBy: [Csv]),
        TaskField("model", ParameterType.Text, [Csv], "linear", t => t is CsvTaskSpec c ? c.Model.ToString().ToLowerInvariant() : null,
            (t, v) => t is CsvTaskSpec c ? c with { Model = ((string)v).Equals("mlp", StringComparison.OrdinalIgnoreCase) ? CsvModel.Mlp : CsvModel.Linear } : t,
            choices: ["linear", "mlp"]),
        // A csv task's linear model has no hidden layers: only its mlp reads these two.
        TaskField("dim_hidden", ParameterType.Integer, [Synthetic, Csv], 10, t => t switch
            {
                SyntheticTaskSpec s => s.DimHidden,
                CsvTaskSpec c => c.DimHidden,
                _ => null,
            },
            (t, v) => t switch
            {
                SyntheticTaskSpec s => s with { DimHidden = Whole(v) },
                CsvTaskSpec c => c with { DimHidden = Whole(v) },
                _ => t,
            },
            range: new(1), requiredBy: [Synthetic], readWhen: t => t is not CsvTaskSpec { Model: CsvModel.Linear }),
        TaskField("n_layers", ParameterType.Integer, [Synthetic, Csv], 0, t => t switch
            {
                SyntheticTaskSpec s => s.NLayers,
                CsvTaskSpec c => c.NLayers,
                _ => null,
            },
            (t, v) => t switch
            {
                SyntheticTaskSpec s => s with { NLayers = Whole(v) },
                CsvTaskSpec c => c with { NLayers = Whole(v) },
                _ => t,
            },
            range: new(0), requiredBy: [Synthetic], readWhen: t => t is not CsvTaskSpec { Model: CsvModel.Linear }),
    ];

    /// <summary>The trial's own parameters: the seed of its data and initial weights (grid files give it in
    /// <c>task</c>).</summary>
    public static readonly IReadOnlyList<SweepParameter<TrialSpec>> Trial =
    [
        new("seed", ParameterSection.Task, ParameterType.Integer, s => s, (_, s) => s, s => s.Seed, (s, v) => s with { Seed = Convert.ToInt64(v, CultureInfo.InvariantCulture) }, _ => true)
        {
            Default = 0L,
            Range = new(0),
        },
    ];

    /// <summary>When a trial stops.</summary>
    public static readonly IReadOnlyList<SweepParameter<Budget>> Budget =
    [
        BudgetField("steps", 100, b => b.Steps, (b, v) => b with { Steps = Whole(v) }, new(1), ParameterType.Integer),
        BudgetField("seconds", null, b => b.Seconds, (b, v) => b with { Seconds = Real(v) }, new(0, AboveMin: true)),
        BudgetField("target_loss", null, b => b.TargetLoss, (b, v) => b with { TargetLoss = Real(v) }, new(0)),
    ];

    /// <summary>Every parameter: the optimizer's, the task's (the seed last), the budget's.</summary>
    public static readonly IReadOnlyList<SweepParameter> All = [.. Optimizer, .. Task, .. Trial, .. Budget];

    static readonly Dictionary<OptimizerKind, IReadOnlySet<string>> HyperParametersOf = Every.ToDictionary(
        kind => kind,
        kind => (IReadOnlySet<string>)Optimizer.Where(p => p.Name != "optimizer" && p.ReadBy.Contains(kind)).Select(p => p.Name).ToHashSet());

    /// <summary>The hyper-parameters (grid names) that <paramref name="kind"/> reads, in the table's order.</summary>
    public static IReadOnlySet<string> HyperParameters(OptimizerKind kind) => HyperParametersOf[kind];

    /// <summary>The parameter called <paramref name="name"/> (its plain grid name), or null.</summary>
    public static SweepParameter? Find(string name) => All.FirstOrDefault(p => p.Name == name);

    /// <summary>The task record a grid starts a trial of <paramref name="kind"/> from: defaults, and placeholders for the
    /// required fields, which the grid always sets.</summary>
    public static TaskSpec BlankTask(string kind) => kind switch
    {
        Synthetic => new SyntheticTaskSpec(1, 1, 1, 0),
        Linear => new LinearTaskSpec(1, 1),
        Csv => new CsvTaskSpec("", ""),
        _ => throw new ArgumentException($"task.kind = \"{kind}\": no such task", nameof(kind)),
    };

    /// <summary>Problems with the parameters of <paramref name="record"/> that it reads and that have a plain range.</summary>
    public static IEnumerable<SpecProblem> Problems<T>(IEnumerable<SweepParameter<T>> parameters, T record) where T : class
    {
        foreach (var p in parameters)
        {
            if (p.Range is not { } range || !p.Reads(record)) continue;
            var value = p.Read(record);
            if (range.Problem(p.Type, value) is { } message) yield return SpecProblem.Of(p.ProblemField, value, message);
        }
    }

    /// <summary>The optimizer's part of a trial's configuration as results show it: <c>optimizer</c>, then the settings
    /// results always list (<c>variant</c>, <c>lr</c>, <c>max_steps</c>, <c>scale_i</c>; null where it does not read
    /// them), names before numbers; with <paramref name="complete"/> also every other setting it reads
    /// (<c>history_size</c> for lbfgs, <c>max_parameters</c> for newton).</summary>
    public static List<KeyValuePair<string, object?>> OptimizerConfig(OptimizerSpec optimizer, bool complete = false) =>
    [
        .. Optimizer.Where(p => p.AlwaysInConfig || (complete && p.Reads(optimizer)))
            .OrderBy(p => p.Type != ParameterType.Text)
            .Select(p => new KeyValuePair<string, object?>(p.Name, p.Reads(optimizer) ? p.Read(optimizer) : null)),
    ];

    /// <summary>The task's fields as grid files name them: <c>kind</c>, the kind's fields, then the seed.</summary>
    public static IEnumerable<KeyValuePair<string, object?>> TaskFields(TrialSpec spec) =>
    [
        new("kind", spec.Task.Kind),
        .. All.Where(p => p.Section == ParameterSection.Task && p.AppliesTo(spec.Task.Kind)).Select(p => new KeyValuePair<string, object?>(p.Name, p.Get(spec))),
    ];

    /// <summary>The budget's fields as grid files name them (null: not set).</summary>
    public static IEnumerable<KeyValuePair<string, object?>> BudgetFields(TrialSpec spec) =>
        Budget.Select(p => new KeyValuePair<string, object?>(p.Name, p.Get(spec)));

    static int Whole(object value) => Convert.ToInt32(value, CultureInfo.InvariantCulture);

    static double Real(object value) => Convert.ToDouble(value, CultureInfo.InvariantCulture);

    static SweepParameter<OptimizerSpec> OptimizerField(string name, ParameterType type, OptimizerKind[] readBy, object? @default,
        Func<OptimizerSpec, object?> read, Func<OptimizerSpec, object, OptimizerSpec> write,
        ValueRange? range = null, string[]? choices = null, bool alwaysInConfig = false) =>
        new(name, ParameterSection.Optimizer, type, s => s.Optimizer, (s, o) => s with { Optimizer = o }, read, write, o => readBy.Contains(o.Kind))
        {
            Default = @default,
            Range = range,
            Choices = choices,
            ReadBy = readBy,
            AlwaysInConfig = alwaysInConfig,
        };

    static SweepParameter<TaskSpec> TaskField(string name, ParameterType type, string[] kinds, object? @default,
        Func<TaskSpec, object?> read, Func<TaskSpec, object, TaskSpec> write,
        ValueRange? range = null, string[]? choices = null, string[]? requiredBy = null, Func<TaskSpec, bool>? readWhen = null) =>
        new(name, ParameterSection.Task, type, s => s.Task, (s, t) => s with { Task = t }, read, write,
            t => kinds.Contains(t.Kind) && (readWhen is null || readWhen(t)))
        {
            Default = @default,
            Range = range,
            Choices = choices,
            TaskKinds = kinds,
            RequiredBy = requiredBy ?? [],
        };

    static SweepParameter<Budget> BudgetField(string name, object? @default, Func<Budget, object?> read, Func<Budget, object, Budget> write,
        ValueRange range, ParameterType type = ParameterType.Number) =>
        new(name, ParameterSection.Budget, type, s => s.Budget, (s, b) => s with { Budget = b }, read, write, _ => true)
        {
            Default = @default,
            Range = range,
        };
}
