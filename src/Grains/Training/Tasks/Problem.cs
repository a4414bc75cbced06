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

    Problem(Tensor inputs, Tensor targets, nn.Module<Tensor, Tensor> model)
    {
        Inputs = inputs;
        Targets = targets;
        Model = model;
        Parameters = [.. model.parameters()];
    }

    public Tensor Inputs { get; }
    public Tensor Targets { get; }
    public nn.Module<Tensor, Tensor> Model { get; }
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Builds the task's data and model from <paramref name="seed"/> on the CPU generator (so every node
    /// draws the same numbers), then moves them to <paramref name="device"/>.</summary>
    public static Problem Create(TaskSpec task, long seed, Device device)
    {
        Tensor x, y;
        nn.Module<Tensor, Tensor> model;
        lock (SeedLock)
        {
            torch.manual_seed(seed);
            (x, y, model) = task switch
            {
                SyntheticTaskSpec s => SyntheticTask.Draw(s),
                LinearTaskSpec l => LinearTask.Draw(l),
                CsvTaskSpec c => CsvTask.Load(c),
                _ => throw new ArgumentException($"task.kind = \"{task.Kind}\": no such task"),
            };
        }
        if (device.type != DeviceType.CPU)
        {
            model.to(device);
            var (xd, yd) = (x.to(device), y.to(device));
            x.Dispose();
            y.Dispose();
            (x, y) = (xd, yd);
        }
        return new Problem(x, y, model);
    }

    /// <summary>The loss at the current parameters. The caller decides grad mode and dispose scope.</summary>
    public Tensor Loss() => nn.functional.mse_loss(Model.forward(Inputs), Targets);

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
