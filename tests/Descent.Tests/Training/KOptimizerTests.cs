using Descent.Contracts.Trials;
using Descent.Grains.Training.Optimizers;

namespace Descent.Tests.Training;

public class KeepSteppingTests
{
    [Fact]
    public void Seed_scale0_keeps_the_step_that_made_the_loss_worse()
    {
        // By hand: w0 = 0, grad = -8, each mini-step moves +1: w = 1, 2, 3, 4 (loss 0), 5 (loss 1, worse: kept).
        using var q = new Quadratic(0f);
        using var ks = new KeepStepping([q.W], lr: 0.125, maxSteps: 10, scaleI: 0, Variant.Seed);
        Assert.Equal(16f, q.OuterStep(ks));
        Assert.Equal(5f, q.Value);
        Assert.Equal(5, q.ProbeCount);
        // From w = 5: grad = 2, mini-steps of -0.25: 4.75, 4.5, 4.25, 4.0 (loss 0), 3.75 (0.0625, worse: kept).
        Assert.Equal(1f, q.OuterStep(ks));
        Assert.Equal(3.75f, q.Value);
        // From 3.75: grad = -0.5, mini-steps of +0.0625 up to 4.0, then 4.0625 (worse: kept).
        Assert.Equal(0.0625f, q.OuterStep(ks));
        Assert.Equal(4.0625f, q.Value);
    }

    [Fact]
    public void Seed_scale2_climbs_the_gradient_from_the_third_mini_step()
    {
        // The post's mini_step(i) adds (-lr + lr*scale_i*sqrt(i)) * grad; the loop starts at i = 0 again.
        // w0 = 0, grad = -8: +1 (i=0) -> 1, +1 (i=0) -> 2, then i=1: (+0.125)*(-8) = -1 -> 1, worse: kept.
        using var q = new Quadratic(0f);
        using var ks = new KeepStepping([q.W], lr: 0.125, maxSteps: 10, scaleI: 2, Variant.Seed);
        Assert.Equal(16f, q.OuterStep(ks));
        Assert.Equal(1f, q.Value);
        Assert.Equal(3, q.ProbeCount);
    }

    [Fact]
    public void Seed_max_steps_allows_max_steps_plus_one_mini_steps()
    {
        using var q = new Quadratic(0f);
        using var ks = new KeepStepping([q.W], lr: 0.0078125, maxSteps: 3, scaleI: 0, Variant.Seed);
        q.OuterStep(ks);
        Assert.Equal(4 * 0.0078125f * 8, q.Value); // 1 + 3 mini-steps of 1/16, all downhill
        Assert.Equal(4, q.ProbeCount);
    }

    [Theory]
    [InlineData(0.125, 10, 0.0, 0f)]
    [InlineData(0.125, 10, 2.0, 0f)]
    [InlineData(0.01, 50, 0.0, -3f)]
    [InlineData(0.01, 50, 2.0, -3f)]
    [InlineData(0.03, 10, 2.0, 7.5f)]
    public void Seed_matches_the_posts_listing_step_for_step(double lr, int maxSteps, double scaleI, float w0)
    {
        var (expectedW, expected) = PostReference.KeepSteppingSeed(w0, lr, maxSteps, scaleI, outerSteps: 12);
        using var q = new Quadratic(w0);
        using var ks = new KeepStepping([q.W], lr, maxSteps, scaleI, Variant.Seed);
        var starts = Enumerable.Range(0, 12).Select(_ => q.OuterStep(ks)).ToList();
        for (var i = 0; i < expected.Count; i++) Assert.Equal(expected[i], starts[i], 1e-5f * Math.Max(1f, expected[i]));
        Assert.Equal(expectedW, q.Value, 1e-5f);
    }

    [Fact]
    public void Corrected_grows_the_step_with_impatience_and_undoes_the_overshoot()
    {
        // w0 = 0, grad = -8, lr = 1/8: mini-step i moves lr*(1 + 2*sqrt(i))*8: +1 -> 1 (9), +3 -> 4 (0),
        // +(1 + 2*sqrt 2) -> 7.83 (worse): undone, so w stays at the minimum.
        using var q = new Quadratic(0f);
        using var ks = new KeepStepping([q.W], lr: 0.125, maxSteps: 10, scaleI: 2, Variant.Corrected);
        Assert.Equal(16f, q.OuterStep(ks));
        Assert.Equal(4f, q.Value);
        Assert.Equal(3, q.ProbeCount);
    }

    [Fact]
    public void Corrected_stops_after_max_steps_and_never_raises_the_loss()
    {
        // scale_i = 0: steps of +1 from 0 with max_steps = 2: w = 1, 2; no third mini-step.
        using var q = new Quadratic(0f);
        using var ks = new KeepStepping([q.W], lr: 0.125, maxSteps: 2, scaleI: 0, Variant.Corrected);
        q.OuterStep(ks);
        Assert.Equal(2f, q.Value);
        Assert.Equal(2, q.ProbeCount);
        // From 2 (grad -4): 2.5, 3.0; from 3 (grad -2): 3.25, 3.5.
        Assert.Equal(4f, q.OuterStep(ks));
        Assert.Equal(1f, q.OuterStep(ks));
        Assert.Equal(3.5f, q.Value);
    }

    [Fact]
    public void Corrected_undoes_a_mini_step_that_does_not_lower_the_loss()
    {
        // lr = 1/4: +2 -> 2, +2 -> 4 (loss 0); the next outer step has grad 0: its mini-step leaves the loss at 0,
        // which is not lower, so it is undone and the step returns the loss it started from.
        using var q = new Quadratic(0f);
        using var ks = new KeepStepping([q.W], lr: 0.25, maxSteps: 2, scaleI: 0, Variant.Corrected);
        q.OuterStep(ks);
        Assert.Equal(4f, q.Value);
        Assert.Equal(0f, q.OuterStep(ks));
        Assert.Equal(4f, q.Value);
        Assert.Equal(3, q.ProbeCount);
    }

    [Fact]
    public void Corrected_with_a_step_too_large_stays_put()
    {
        using var q = new Quadratic(0f);
        using var ks = new KeepStepping([q.W], lr: 2, maxSteps: 5, scaleI: 0, Variant.Corrected);
        q.OuterStep(ks); // 0 + 16 = 16: loss 144 > 16, undone
        Assert.Equal(0f, q.Value);
    }
}

public class KeepVaultingTests
{
    [Fact]
    public void Seed_first_vault_uses_the_posts_loss_minus_slope_second_derivative()
    {
        // w0 = 0, grad = -8, lr = 1/8: first step +1 -> w = 1, losses [16, 9].
        // g1 = (9 - 16) / 0.125 = -56; second = (9 - (-56)) / 0.125 = 520; stepsize = -520 / -56 * 0.125.
        // Vault: w += -(0.125 * stepsize) * (-8) = stepsize -> w = 1 + 1.16071428...
        using var q = new Quadratic(0f);
        using var kv = new KeepVaulting([q.W], lr: 0.125, maxSteps: 1, Variant.Seed);
        q.OuterStep(kv);
        Assert.Equal(1f + (float)(520.0 / 56.0 * 0.125), q.Value, 1e-6f);
        Assert.Equal(2, q.ProbeCount);
    }

    [Theory]
    [InlineData(0.125, 10, 0f)]
    [InlineData(0.01, 50, -3f)]
    [InlineData(0.001, 10, 10f)]
    [InlineData(0.3, 10, 1f)]
    public void Seed_matches_the_posts_listing_step_for_step(double lr, int maxSteps, float w0)
    {
        var (expectedW, expected) = PostReference.KeepVaultingSeed(w0, lr, maxSteps, outerSteps: 8);
        using var q = new Quadratic(w0);
        using var kv = new KeepVaulting([q.W], lr, maxSteps, Variant.Seed);
        var starts = Enumerable.Range(0, 8).Select(_ => q.OuterStep(kv)).ToList();
        for (var i = 0; i < expected.Count; i++) Assert.Equal(expected[i], starts[i], 1e-4f * Math.Max(1f, expected[i]));
        Assert.Equal(expectedW, q.Value, 1e-4f);
    }

    [Fact]
    public void Corrected_parabola_through_the_exact_slope_lands_on_the_minimum_of_a_quadratic()
    {
        // φ(t) = (8t - 4)², φ(0) = 16, φ'(0) = -|grad|² = -64; probe t = 1/8: φ = 9.
        // Parabola: 16 - 64t + c t² with c = (9 - 16 + 8) / (1/64) = 64 -> minimum at t = 64 / 128 = 1/2 -> w = 4.
        // The next fit gives t = 1/2 again: settled after two probes.
        using var q = new Quadratic(0f);
        using var kv = new KeepVaulting([q.W], lr: 0.125, maxSteps: 10, Variant.Corrected);
        Assert.Equal(16f, q.OuterStep(kv));
        Assert.Equal(4f, q.Value);
        Assert.Equal(2, q.ProbeCount);
    }

    [Fact]
    public void Corrected_goes_back_to_the_best_point_when_a_vault_makes_the_loss_worse()
    {
        // lr = 1: the first probe lands at w = 8 (loss 16, not lower than 16): back to w = 0.
        using var q = new Quadratic(0f);
        using var kv = new KeepVaulting([q.W], lr: 1, maxSteps: 10, Variant.Corrected);
        q.OuterStep(kv);
        Assert.Equal(0f, q.Value);
        Assert.Equal(1, q.ProbeCount);
    }

    [Fact]
    public void Corrected_doubles_the_vault_where_the_parabola_has_no_positive_curvature()
    {
        // A linear loss (w - 4 stays on one side with slope 1): φ(t) = φ(0) - t exactly, curvature 0, so each
        // vault doubles t: t = 1/8, 1/4, 1/2, 1 after four vaults (max_steps = 4).
        using var w = new TorchSharp.Modules.Parameter(TorchSharp.torch.tensor(new[] { 0f }));
        using var kv = new KeepVaulting([w], lr: 0.125, maxSteps: 4, Variant.Corrected);
        float Loss() { using var _ = TorchSharp.torch.no_grad(); using var s = TorchSharp.torch.NewDisposeScope(); return (-w).sum().item<float>(); }
        using (var s = TorchSharp.torch.NewDisposeScope())
        {
            var loss = (-w).sum();
            ((ITrialOptimizer)kv).Backward(loss);
            ((ITrialOptimizer)kv).Step(loss.item<float>(), Loss);
        }
        Assert.Equal(1f, w.item<float>());
    }
}
