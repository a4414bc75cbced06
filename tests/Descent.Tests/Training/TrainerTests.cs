using Descent.Contracts.Trials;
using Descent.Grains.Training;
using Descent.Grains.Training.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Descent.Tests.Training;

public class TrainerTests
{
    static readonly OptimizerSpec[] Every =
    [
        new(OptimizerKind.Sgd, Lr: 0.01),
        new(OptimizerKind.Adam, Lr: 0.01),
        new(OptimizerKind.Lbfgs, Lr: 0.1),
        new(OptimizerKind.Newton),
        new(OptimizerKind.KeepStepping, Lr: 0.01, MaxSteps: 10, ScaleI: 2),
        new(OptimizerKind.KeepStepping, Lr: 0.01, MaxSteps: 10, ScaleI: 2, Variant: Variant.Corrected),
        new(OptimizerKind.KeepVaulting, Lr: 0.01, MaxSteps: 10),
        new(OptimizerKind.KeepVaulting, Lr: 0.01, MaxSteps: 10, Variant: Variant.Corrected),
    ];

    internal static OptimizerSpec[] EveryOptimizer => Every;

    public static TheoryData<int> EveryIndex => [.. Enumerable.Range(0, Every.Length)];

    [Theory]
    [MemberData(nameof(EveryIndex))]
    public void Same_spec_same_trajectory(int which)
    {
        var spec = Specs.Trial(Specs.TinySynthetic, Every[which], steps: 8, seed: 5);
        var first = Trainer.Run(spec);
        var second = Trainer.Run(spec);
        Assert.NotEqual(TrialStatus.Failed, first.Status);
        Assert.Equal(first.History.Select(h => h.Loss), second.History.Select(h => h.Loss));
        Assert.Equal(first.History.Select(h => h.ForwardPasses), second.History.Select(h => h.ForwardPasses));
        Assert.Equal(first.FinalLoss, second.FinalLoss);
    }

    [Theory]
    [MemberData(nameof(EveryIndex))]
    public void Records_every_step_with_consistent_counts_and_times(int which)
    {
        var result = Trainer.Run(Specs.Trial(Specs.TinySynthetic, Every[which], steps: 6));
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Equal(6, result.History.Count);
        Assert.Equal([1, 2, 3, 4, 5, 6], result.History.Select(h => h.Step));
        Assert.Equal([1L, 2, 3, 4, 5, 6], result.History.Select(h => h.GradientEvaluations));
        Assert.Equal(6, result.GradientEvaluations);
        for (var i = 1; i < result.History.Count; i++)
        {
            Assert.True(result.History[i].ForwardPasses > result.History[i - 1].ForwardPasses);
            Assert.True(result.History[i].ElapsedSeconds >= result.History[i - 1].ElapsedSeconds);
        }
        Assert.True(result.ForwardPasses >= result.History[^1].ForwardPasses);
        Assert.True(result.ForwardSeconds > 0 && result.BackwardSeconds > 0 && result.OptimizerSeconds >= 0);
        Assert.True(result.ForwardSeconds + result.BackwardSeconds + result.OptimizerSeconds <= result.WallSeconds);
        Assert.True(result.BestLoss <= result.FinalLoss && result.BestLoss <= result.History.Min(h => h.Loss));
    }

    [Fact]
    public void Sgd_measures_the_final_loss_with_one_extra_forward_pass()
    {
        var result = Trainer.Run(Specs.Trial(Specs.TinySynthetic, new OptimizerSpec(OptimizerKind.Sgd, Lr: 0.01), steps: 5));
        Assert.Equal(5, result.History[^1].ForwardPasses);
        Assert.Equal(6, result.ForwardPasses);
        Assert.True(result.FinalLoss < result.History[^1].Loss);
    }

    [Fact]
    public void K_optimizers_reuse_the_loss_they_measured_instead_of_a_forward_pass()
    {
        // The post's step() re-evaluates the loss it was handed, and the loop recomputes the loss its last probe
        // measured; here each outer step costs 1 forward with graph + its probes, and the final loss is the last probe.
        var result = Trainer.Run(Specs.Trial(Specs.TinySynthetic, new OptimizerSpec(OptimizerKind.KeepStepping, Lr: 0.001, MaxSteps: 3), steps: 4));
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Equal(result.History[^1].ForwardPasses, result.ForwardPasses);
        // lr 1e-3 on this task: every mini-step goes downhill, so each step is 1 + (max_steps + 1) forward passes.
        Assert.Equal([5L, 10, 15, 20], result.History.Select(h => h.ForwardPasses));
    }

    [Fact]
    public void Divergence_is_reported_not_thrown()
    {
        var result = Trainer.Run(Specs.Trial(new SyntheticTaskSpec(256, 10, 10, 5), new OptimizerSpec(OptimizerKind.Sgd, Lr: 10), steps: 200));
        Assert.Equal(TrialStatus.Diverged, result.Status);
        Assert.Contains("loss became", result.Message);
        Assert.True(result.History.Count < 200);
        Assert.False(double.IsFinite(result.FinalLoss));
        Assert.True(double.IsFinite(result.BestLoss));
    }

    [Fact]
    public void Target_loss_ends_the_trial_before_the_step_that_would_start_below_it()
    {
        var spec = new TrialSpec(Specs.SmallLinear, new OptimizerSpec(OptimizerKind.Newton), new Budget(Steps: 50, TargetLoss: 0.2), Seed: 1);
        var result = Trainer.Run(spec);
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Single(result.History);
        Assert.Contains("target loss", result.Message);
        Assert.True(result.FinalLoss <= 0.2);
        Assert.Equal(2, result.ForwardPasses); // step 1, then the forward pass that found the target met
    }

    [Fact]
    public void Time_budget_ends_the_trial()
    {
        var spec = new TrialSpec(Specs.TinySynthetic, new OptimizerSpec(OptimizerKind.Sgd, Lr: 1e-4), new Budget(Steps: 10_000_000, Seconds: 0.3));
        var result = Trainer.Run(spec);
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Contains("time budget", result.Message);
        Assert.InRange(result.WallSeconds, 0.3, 5);
    }

    [Fact]
    public void Cancellation_stops_between_steps_and_keeps_the_history()
    {
        using var cancel = new CancellationTokenSource();
        var result = Trainer.Run(Specs.Trial(Specs.TinySynthetic, new OptimizerSpec(OptimizerKind.Sgd), steps: 100),
            onStep: s => { if (s.Step == 3) cancel.Cancel(); }, cancellation: cancel.Token);
        Assert.Equal(TrialStatus.Cancelled, result.Status);
        Assert.Equal(3, result.History.Count);
        Assert.True(double.IsFinite(result.FinalLoss));
    }

    [Theory]
    [InlineData("cuda:0", "CUDA is not available")]
    [InlineData("gpu", "expected cpu or cuda:N")]
    [InlineData("cuda:x", "expected cpu or cuda:N")]
    public void A_device_that_cannot_be_used_fails_the_trial_with_its_name(string device, string reason)
    {
        var result = Trainer.Run(Specs.Trial(Specs.TinySynthetic, new OptimizerSpec(OptimizerKind.Sgd)), device);
        Assert.Equal(TrialStatus.Failed, result.Status);
        Assert.Contains($"device = \"{device}\"", result.Message);
        Assert.Contains(reason, result.Message);
    }

    [Fact]
    public void Invalid_hyper_parameters_fail_the_trial_naming_field_and_value()
    {
        var result = Trainer.Run(Specs.Trial(new SyntheticTaskSpec(0, 3, 3, 1), new OptimizerSpec(OptimizerKind.KeepStepping, Lr: -1, MaxSteps: 0)));
        Assert.Equal(TrialStatus.Failed, result.Status);
        Assert.Contains("lr = -1", result.Message);
        Assert.Contains("max_steps = 0", result.Message);
        Assert.Contains("task.n_row = 0", result.Message);
        Assert.Empty(result.History);
    }

    [Theory]
    [InlineData(10, 2.0, Variant.Seed)]
    [InlineData(50, 0.0, Variant.Seed)]
    public void Keep_stepping_seed_reproduces_the_posts_training_loop(int maxSteps, double scaleI, Variant variant)
    {
        var task = new SyntheticTaskSpec(2000, 10, 10, 3);
        const double lr = 1e-3;
        const int steps = 12;
        var expected = PostLoop(task, steps, p => new PostKeepStepping(p, lr, maxSteps, scaleI));
        var result = Trainer.Run(new TrialSpec(task, new OptimizerSpec(OptimizerKind.KeepStepping, lr, maxSteps, scaleI, variant), new Budget(steps)));
        AssertSameLosses(expected, result);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(50)]
    public void Keep_vaulting_seed_reproduces_the_posts_training_loop(int maxSteps)
    {
        var task = new SyntheticTaskSpec(2000, 10, 10, 3);
        const double lr = 1e-3;
        const int steps = 12;
        var expected = PostLoop(task, steps, p => new PostKeepVaulting(p, lr, maxSteps));
        var result = Trainer.Run(new TrialSpec(task, new OptimizerSpec(OptimizerKind.KeepVaulting, lr, maxSteps), new Budget(steps)));
        AssertSameLosses(expected, result);
    }

    static void AssertSameLosses(List<float> expected, TrialResult result)
    {
        Assert.Equal(TrialStatus.Completed, result.Status);
        Assert.Equal(expected.Count, result.History.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(Math.Abs(expected[i] - result.History[i].Loss) <= 1e-6 * Math.Abs(expected[i]), $"step {i + 1}: post {expected[i]}, trainer {result.History[i].Loss}");
    }

    interface IPostOptimizer { void zero_grad(); float step(Func<Tensor> closure); }

    /// <summary>The post's training loop, line for line: forward, loss, zero_grad, backward, step(closure), record loss.</summary>
    static List<float> PostLoop(SyntheticTaskSpec task, int steps, Func<Parameter[], IPostOptimizer> create)
    {
        using var problem = Problem.Create(task, seed: 0, CPU);
        var optimizer = create([.. problem.Parameters]);
        var losses = new List<float>();
        for (var t = 0; t < steps; t++)
        {
            using var scope = NewDisposeScope();
            var loss = problem.Loss();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step(problem.Loss);
            losses.Add(loss.item<float>());
        }
        return losses;
    }

    /// <summary>The post's KeepStepping listing, transcribed to TorchSharp without any change.</summary>
    sealed class PostKeepStepping(Parameter[] ps, double lr, int maxSteps, double scaleI) : IPostOptimizer
    {
        public void zero_grad() { foreach (var p in ps) p.grad?.zero_(); }
        void mini_step(int i)
        {
            using var _ = no_grad();
            foreach (var p in ps)
            {
                if (p.grad is null) continue;
                var scale = -lr * scaleI * Math.Sqrt(i);
                p.add_(p.grad, alpha: -lr - scale);
            }
        }
        public float step(Func<Tensor> closure)
        {
            var old_loss = closure().item<float>();
            var i = 0;
            mini_step(i);
            var new_loss = closure().item<float>();
            while (new_loss < old_loss && i < maxSteps)
            {
                mini_step(i);
                old_loss = new_loss;
                new_loss = closure().item<float>();
                i += 1;
            }
            return new_loss;
        }
    }

    /// <summary>The post's KeepVaulting listing, transcribed to TorchSharp without any change.</summary>
    sealed class PostKeepVaulting(Parameter[] ps, double lr, int maxSteps) : IPostOptimizer
    {
        public void zero_grad() { foreach (var p in ps) p.grad?.zero_(); }
        void mini_step(double jumpsize = 1)
        {
            using var _ = no_grad();
            foreach (var p in ps)
            {
                if (p.grad is null) continue;
                p.add_(p.grad, alpha: -(lr * jumpsize));
            }
        }
        public float step(Func<Tensor> closure)
        {
            var old_loss = closure().item<float>();
            var i = 0;
            mini_step();
            var new_loss = closure().item<float>();
            var losses = new List<double> { old_loss, new_loss };
            while (new_loss < old_loss && i < maxSteps)
            {
                var first_order_grad1 = (losses[^1] - losses[^2]) / lr;
                var second_order_grad = (losses[^1] - first_order_grad1) / lr;
                var stepsize = -second_order_grad / first_order_grad1 * lr;
                mini_step(stepsize);
                old_loss = new_loss;
                new_loss = closure().item<float>();
                losses.Add(new_loss);
                i += 1;
            }
            return new_loss;
        }
    }
}
