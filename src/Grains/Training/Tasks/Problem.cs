using Descent.Contracts.Trials;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Grains.Training.Tasks;

/// <summary>A task made concrete: data and model tensors on one device, and the mean-squared-error loss.</summary>
public sealed class Problem : IDisposable
{
    // torch.manual_seed seeds one process-wide generator; trials on other threads must not draw in between.
    static readonly Lock SeedLock = new();

    /// <summary>Takes <see cref="SeedLock"/>, showing a sign of life (<see cref="TrialHeartbeat"/>) every half second
    /// while another trial holds it: a trial waiting its turn behind another's 30 s CSV load is blocked and uses no CPU,
    /// and would otherwise be taken for hung (seen: its lease lost, then the trial failed after 3 attempts).</summary>
    internal static T UnderSeedLock<T>(Func<T> draw)
    {
        while (!SeedLock.TryEnter(TimeSpan.FromMilliseconds(500))) TrialHeartbeat.Beat();
        try { return draw(); }
        finally { SeedLock.Exit(); }
    }

    readonly TaskSpec _task;

    Problem(TaskSpec task, Tensor inputs, Tensor targets, nn.Module<Tensor, Tensor> model)
    {
        _task = task;
        Inputs = inputs;
        Targets = targets;
        Model = model;
        Parameters = [.. model.parameters()];
    }

    /// <summary>The inputs, <c>[n_row, width]</c> float32.</summary>
    public Tensor Inputs { get; }
    /// <summary>The targets, <c>[n_row, 1]</c> float32.</summary>
    public Tensor Targets { get; }
    public nn.Module<Tensor, Tensor> Model { get; }
    /// <summary>The model's float32 parameters, in <c>parameters()</c> order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Builds the task's data and model from <paramref name="seed"/> on the CPU generator (so every node
    /// draws the same numbers), then moves them to <paramref name="device"/>.</summary>
    /// <exception cref="TaskDataException">The data cannot be read or are not finite in float32 (a CSV cell, a linear
    /// task's noise).</exception>
    public static Problem Create(TaskSpec task, long seed, Device device)
    {
        Tensor x, y;
        nn.Module<Tensor, Tensor> model;
        (x, y, model) = UnderSeedLock(() =>
        {
            torch.manual_seed(seed);
            return task switch
            {
                SyntheticTaskSpec s => SyntheticTask.Draw(s),
                LinearTaskSpec l => LinearTask.Draw(l),
                CsvTaskSpec c => CsvTask.Load(c),
                _ => throw new ArgumentException($"task.kind = \"{task.Kind}\": no such task"),
            };
        });
        if (device.type != DeviceType.CPU)
        {
            model.to(device);
            var (xd, yd) = (x.to(device), y.to(device));
            x.Dispose();
            y.Dispose();
            (x, y) = (xd, yd);
        }
        return new Problem(task, x, y, model);
    }

    /// <summary>The loss at the current parameters. The caller decides grad mode and dispose scope.</summary>
    public Tensor Loss() => nn.functional.mse_loss(Model.forward(Inputs), Targets);

    /// <summary>The same loss in float64 at this model's current parameters, for arithmetic float32 cannot carry
    /// (Newton's Hessian). Builds a float64 model of the same architecture on the same device; dispose it with
    /// the problem.</summary>
    public DoublePrecisionLoss InDoublePrecision()
    {
        nn.Module<Tensor, Tensor> model;
        // Building layers draws initial weights (overwritten at once) from the global generator: not inside another trial's seeded draws.
        model = UnderSeedLock(() => Architecture(_task, Inputs.shape[1]));
        model.to(ScalarType.Float64).to(Inputs.device);
        return new DoublePrecisionLoss(this, model);
    }

    /// <summary>The model a task trains, freshly initialised from the global generator: the one definition that
    /// the tasks and <see cref="InDoublePrecision"/> share.</summary>
    /// <param name="width">The number of input columns.</param>
    internal static nn.Module<Tensor, Tensor> Architecture(TaskSpec task, long width) => task switch
    {
        SyntheticTaskSpec s => StackOfLinears(width, s.DimHidden, s.NLayers),
        // The ones column is the intercept.
        LinearTaskSpec => nn.Linear(width, 1, hasBias: false),
        CsvTaskSpec { Model: CsvModel.Linear } => nn.Linear(width, 1),
        CsvTaskSpec c => StackOfLinears(width, c.DimHidden, c.NLayers),
        _ => throw new ArgumentException($"task.kind = \"{task.Kind}\": no such task"),
    };

    /// <summary>The post's model: <c>Linear(dim_in, hidden)</c>, <paramref name="layers"/> x <c>Linear(hidden, hidden)</c>,
    /// <c>Linear(hidden, 1)</c>, no activations, initialised in that order from the global generator.</summary>
    internal static Sequential StackOfLinears(long dimIn, long hidden, int layers)
    {
        var modules = new List<(string, nn.Module<Tensor, Tensor>)> { ("0", nn.Linear(dimIn, hidden)) };
        for (var i = 0; i < layers; i++) modules.Add(($"{i + 1}", nn.Linear(hidden, hidden)));
        modules.Add(($"{layers + 1}", nn.Linear(hidden, 1)));
        return nn.Sequential(modules);
    }

    public void Dispose()
    {
        Model.Dispose();
        Inputs.Dispose();
        Targets.Dispose();
    }
}

/// <summary>
/// A <see cref="Problem"/>'s loss in float64: a float64 model of the same architecture whose parameters are set to
/// the float32 model's by every <see cref="Loss"/>. The data are converted on each call rather than kept, so it holds
/// nothing of the data's size between calls.
/// </summary>
public sealed class DoublePrecisionLoss : IDisposable
{
    readonly Problem _problem;
    readonly nn.Module<Tensor, Tensor> _model;

    internal DoublePrecisionLoss(Problem problem, nn.Module<Tensor, Tensor> model)
    {
        _problem = problem;
        _model = model;
        Parameters = [.. model.parameters()];
    }

    /// <summary>The float64 parameters, in the same order and shapes as <see cref="Problem.Parameters"/>.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The mean squared error in float64 at the float32 model's current parameters, with a graph to
    /// <see cref="Parameters"/>. The caller owns the dispose scope.</summary>
    public Tensor Loss()
    {
        using (no_grad())
            for (var i = 0; i < Parameters.Count; i++)
                Parameters[i].copy_(_problem.Parameters[i]);
        return nn.functional.mse_loss(
            _model.forward(_problem.Inputs.to_type(ScalarType.Float64)),
            _problem.Targets.to_type(ScalarType.Float64));
    }

    public void Dispose() => _model.Dispose();
}
