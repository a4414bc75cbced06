using Descent.Contracts.Trials;
using Descent.Grains.Training;
using Descent.Grains.Training.Optimizers;
using Descent.Grains.Training.Tasks;
using static TorchSharp.torch;

namespace Descent.Tests.Training;

public class NewtonAndSgdTests
{
    /// <summary>One outer step of <paramref name="optimizer"/> as the trainer takes it.</summary>
    static void OuterStep(Problem problem, ITrialOptimizer optimizer)
    {
        using var scope = NewDisposeScope();
        var loss = problem.Loss();
        optimizer.Backward(loss);
        optimizer.Step(loss.item<float>(), () => { using var s = NewDisposeScope(); using var g = no_grad(); return problem.Loss().item<float>(); });
    }

    [Fact]
    public void One_newton_step_reaches_the_closed_form_least_squares_fit()
    {
        using var problem = Problem.Create(Specs.SmallLinear, seed: 1, CPU);
        using var x = problem.Inputs.to_type(ScalarType.Float64);
        using var y = problem.Targets.to_type(ScalarType.Float64);
        // (XᵀX)⁻¹Xᵀy, computed independently: normal equations solved in double precision.
        using var xt = x.t();
        using var expected = linalg.solve(xt.matmul(x), xt.matmul(y)).reshape(-1);

        using var newton = new Newton(problem, maxParameters: 100);
        OuterStep(problem, newton);

        var fitted = problem.Parameters[0].to_type(ScalarType.Float64).reshape(-1).data<double>().ToArray();
        var closedForm = expected.data<double>().ToArray();
        for (var i = 0; i < closedForm.Length; i++) Assert.Equal(closedForm[i], fitted[i], 1e-4);
    }

    [Fact]
    public void Newton_in_the_trainer_hits_the_noise_floor_in_one_step()
    {
        var result = Trainer.Run(Specs.Trial(Specs.SmallLinear, new OptimizerSpec(OptimizerKind.Newton), steps: 1, seed: 1));
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Equal(0.09, result.FinalLoss, 0.02); // noise 0.3 -> residual variance about 0.09
        Assert.Equal(1, result.GradientEvaluations);
        Assert.True(result.History[0].Loss > 10 * result.FinalLoss);
    }

    [Fact]
    public void Newton_refuses_a_model_over_its_parameter_cap_with_a_clear_message()
    {
        var spec = Specs.Trial(new SyntheticTaskSpec(100, 10, 10, 5), new OptimizerSpec(OptimizerKind.Newton, MaxParameters: 100));
        var result = Trainer.Run(spec);
        Assert.Equal(TrialStatus.Failed, result.Status);
        Assert.Contains("max_parameters = 100", result.Message);
        Assert.Contains("671 parameters", result.Message);
    }

    [Fact]
    public void Newton_on_a_deep_linear_network_with_a_singular_hessian_steps_over_its_flat_directions()
    {
        // The network's rescaling symmetries make the Hessian singular. With a float32 Hessian their eigenvalues came
        // out as rounding noise, the solve divided by it and the trial diverged; treated as 0, the step lands on the fit.
        var result = Trainer.Run(Specs.Trial(Specs.TinySynthetic, new OptimizerSpec(OptimizerKind.Newton), steps: 3));
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Equal(3, result.GradientEvaluations);
        Assert.True(result.FinalLoss < 1e-8 * result.History[0].Loss, $"{result.History[0].Loss} -> {result.FinalLoss}");
        Assert.StartsWith("newton: the Hessian was rank-deficient (rank ", result.Message);
        Assert.EndsWith(" of 45, eigenvalues below 1.0e-14 × the largest treated as 0) in steps 1-3: took the minimum-norm step", result.Message);
    }

    [Fact]
    public void Newton_whose_gradient_overflows_float64_throws_divergence()
    {
        // Ten layers of weights 1e37 after a zero first layer: the output is 0 and the loss finite, but the gradient
        // of the first layer multiplies nine of those weights, past float64's range.
        using var problem = Problem.Create(new SyntheticTaskSpec(16, 2, 2, 9), seed: 0, CPU);
        using (no_grad())
            for (var i = 0; i < problem.Parameters.Count; i++)
                problem.Parameters[i].fill_(i < 2 || i % 2 == 1 ? 0 : 1e37);
        using var newton = new Newton(problem, maxParameters: 100);
        var e = Assert.Throws<DivergedException>(() => OuterStep(problem, newton));
        Assert.Equal("newton: the gradient or the Hessian has non-finite entries", e.Message);
    }

    [Fact]
    public void One_sgd_step_is_w_minus_lr_times_the_gradient()
    {
        using var problem = Problem.Create(Specs.SmallLinear, seed: 2, CPU);
        using var w0 = problem.Parameters[0].detach().clone().to_type(ScalarType.Float64).reshape(-1, 1);
        using var x = problem.Inputs.to_type(ScalarType.Float64);
        using var y = problem.Targets.to_type(ScalarType.Float64);
        // d/dw mean((Xw - y)²) = 2/n Xᵀ(Xw - y)
        using var gradient = x.t().matmul(x.matmul(w0) - y) * (2.0 / x.shape[0]);
        const double lr = 0.05;
        using var expected = (w0 - lr * gradient).reshape(-1);

        using var sgd = TrialOptimizers.Create(new OptimizerSpec(OptimizerKind.Sgd, Lr: lr), problem);
        OuterStep(problem, sgd);

        var actual = problem.Parameters[0].to_type(ScalarType.Float64).reshape(-1).data<double>().ToArray();
        var want = expected.data<double>().ToArray();
        for (var i = 0; i < want.Length; i++) Assert.Equal(want[i], actual[i], 1e-4);
    }

    [Fact]
    public void Lbfgs_takes_one_gradient_per_step_and_descends()
    {
        var result = Trainer.Run(Specs.Trial(Specs.SmallLinear, new OptimizerSpec(OptimizerKind.Lbfgs, Lr: 1), steps: 15, seed: 1));
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Equal(15, result.GradientEvaluations);
        Assert.True(result.FinalLoss < result.History[0].Loss / 100, $"{result.History[0].Loss} -> {result.FinalLoss}");
    }
}
