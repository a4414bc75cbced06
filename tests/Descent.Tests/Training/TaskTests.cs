using Descent.Contracts.Trials;
using Descent.Grains.Training;
using Descent.Grains.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Descent.Tests.Training;

public class TaskTests
{
    [Fact]
    public void Synthetic_inputs_are_pytorchs_first_draws_and_the_target_is_their_row_sum()
    {
        using var problem = Problem.Create(new SyntheticTaskSpec(20, 3, 2, 0), seed: 0, CPU);
        var x = problem.Inputs.data<float>().ToArray();
        float[] pytorch = [-1.12584f, -1.15236f, -0.25058f, -0.43388f, 0.84871f];
        for (var i = 0; i < pytorch.Length; i++) Assert.Equal(pytorch[i], x[i], 1e-5f);
        Assert.Equal([20L, 1L], problem.Targets.shape);
        Assert.Equal(x[0] + x[1] + x[2], problem.Targets[0, 0].item<float>(), 1e-6f);
    }

    [Fact]
    public void Model_layers_draw_their_weights_as_pytorchs_linear_does()
    {
        torch.manual_seed(0);
        using var model = Problem.StackOfLinears(3, 2, 0);
        var weight = model.parameters().First().data<float>().ToArray();
        float[] pytorch = [-0.00432f, 0.30972f, -0.47519f, -0.42489f, -0.22237f, 0.15482f];
        Assert.Equal(pytorch.Length, weight.Length);
        for (var i = 0; i < pytorch.Length; i++) Assert.Equal(pytorch[i], weight[i], 1e-5f);
    }

    [Fact]
    public void Synthetic_model_has_the_posts_shape()
    {
        using var problem = Problem.Create(new SyntheticTaskSpec(10, 10, 10, 5), seed: 0, CPU);
        // Linear(10,10) + 5 x Linear(10,10) + Linear(10,1)
        Assert.Equal(110 + 5 * 110 + 11, problem.Parameters.Sum(p => p.numel()));
        Assert.Equal(7, problem.Parameters.Count / 2);
    }

    [Fact]
    public void Linear_task_has_an_intercept_column_and_a_bias_free_model()
    {
        using var problem = Problem.Create(new LinearTaskSpec(50, 3), seed: 0, CPU);
        Assert.Equal([50L, 4L], problem.Inputs.shape);
        Assert.True(problem.Inputs[.., 0].eq(1).all().item<bool>());
        var parameter = Assert.Single(problem.Parameters);
        Assert.Equal([1L, 4L], parameter.shape);
    }

    [Fact]
    public void Linear_noise_that_makes_targets_overflow_float32_fails_the_trial_as_the_datas_fault()
    {
        // 3e38 is a float32, but 3e38·ε passes float32's largest value wherever |ε| > 1.13.
        var result = Trainer.Run(Specs.Trial(new LinearTaskSpec(500, 3, Noise: 3e38), new OptimizerSpec(OptimizerKind.Newton)));
        Assert.Equal(TrialStatus.Failed, result.Status);
        Assert.Empty(result.History);
        Assert.StartsWith("task.noise = 3E+38: ", result.Message);
        Assert.Matches(@"\d+ of 500 targets y = X·w \+ noise·ε overflow float32; lower the noise$", result.Message);
    }

    [Fact]
    public void Same_seed_same_data_other_seed_other_data()
    {
        using var a = Problem.Create(Specs.TinySynthetic, seed: 3, CPU);
        using var b = Problem.Create(Specs.TinySynthetic, seed: 3, CPU);
        using var c = Problem.Create(Specs.TinySynthetic, seed: 4, CPU);
        Assert.True(a.Inputs.eq(b.Inputs).all().item<bool>());
        Assert.True(a.Parameters[0].eq(b.Parameters[0]).all().item<bool>());
        Assert.False(a.Inputs.eq(c.Inputs).all().item<bool>());
    }
}
