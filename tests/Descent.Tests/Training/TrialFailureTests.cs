using System.Runtime.InteropServices;
using Descent.Contracts.Trials;
using Descent.Grains.Training;
using static TorchSharp.torch;

namespace Descent.Tests.Training;

/// <summary>Trials that cannot run end with one line their user understands, not libtorch's diagnostics.</summary>
public class TrialFailureTests
{
    [Fact]
    public void A_task_too_large_for_the_silo_fails_before_allocating_naming_the_task_and_the_sizes()
    {
        // 2e9 x 1000 float32 inputs: 8 TB, more than any machine running these tests has.
        var spec = Specs.Trial(new SyntheticTaskSpec(NRow: 2_000_000_000, DimIn: 1000, DimHidden: 10, NLayers: 5), new OptimizerSpec(OptimizerKind.Sgd));
        var result = Trainer.Run(spec);
        Assert.Equal(TrialStatus.Failed, result.Status);
        Assert.StartsWith("task synthetic n_row=2000000000, dim_in=1000, dim_hidden=10, n_layers=5 needs about ", result.Message);
        Assert.Contains("inputs 8 TB, targets 8 GB, model and optimizer state 85 kB, activations kept for the backward pass 656 GB", result.Message);
        Assert.Matches(@"; this silo has \d+(\.\d)? [GMT]B available$", result.Message);
        Assert.DoesNotContain("\n", result.Message);
        Assert.Equal(0, result.GradientEvaluations);
        Assert.Equal(0, result.ForwardPasses); // refused, not failed inside libtorch ("out of memory during ...")
    }

    [Fact]
    public void The_footprint_counts_inputs_targets_activations_and_newtons_hessian_and_float64_copies()
    {
        // 1000 rows, dim_in 10, hidden 10 x 2 layers (+ output 1): inputs 40 kB, targets 4 kB; newton: 110 + 110 + 11 parameters.
        var spec = Specs.Trial(new SyntheticTaskSpec(1000, 10, 10, 1), new OptimizerSpec(OptimizerKind.Newton));
        var footprint = TrialMemory.Of(spec)!;
        Assert.Equal(1000 * 10 * 4.0, footprint.Inputs);
        Assert.Equal(1000 * 4.0, footprint.Targets);
        Assert.Equal(231 * 4 * 6.0, footprint.Model); // weights and gradients, and the float64 copy's (newton)
        // Kept for backward: outputs of widths 10, 10, 1, the residual (1), and two of the widest gradients (10 each).
        Assert.Equal(1000 * 4 * (10 + 10 + 1 + 1 + 2 * 10.0), footprint.Activations);
        // newton differentiates float64 copies of the data (twice their float32 bytes) and of the activations, twice over
        // (create_graph keeps the gradient's graph), beside its Hessian.
        Assert.Equal(231.0 * 231 * 8 + 2 * (40_000 + 4_000) + 4 * 168_000, footprint.Newton);
        var refused = Assert.Throws<TrialResourceException>(() => TrialMemory.Check(footprint, available: 100_000));
        Assert.Equal("task synthetic n_row=1000, dim_in=10, dim_hidden=10, n_layers=1 needs about 1.4 MB (inputs 40 kB, targets 4 kB, "
            + "model and optimizer state 5.5 kB, activations kept for the backward pass 168 kB, newton's Hessian and float64 copies 1.2 MB); this silo has 100 kB available", refused.Message);
        TrialMemory.Check(footprint, available: footprint.Total); // exactly enough is enough
        Assert.Null(TrialMemory.Of(Specs.Trial(new CsvTaskSpec("data.csv", "y"), new OptimizerSpec(OptimizerKind.Sgd)))); // rows unknown until read
    }

    [Fact]
    public void Shapes_past_64_bits_and_billions_of_layers_are_refused_not_overflowed_or_built()
    {
        var wide = Specs.Trial(new SyntheticTaskSpec(2_000_000_000, 2_000_000_000, 10, 1), new OptimizerSpec(OptimizerKind.Sgd));
        var refused = Assert.Throws<TrialResourceException>(() => TrialMemory.Check(TrialMemory.Of(wide)));
        Assert.Contains("inputs 16000000 TB", refused.Message);
        var deep = Specs.Trial(new SyntheticTaskSpec(10, 10, 4000, 2_000_000_000), new OptimizerSpec(OptimizerKind.Sgd));
        Assert.Contains("model and optimizer state 256064 TB", Assert.Throws<TrialResourceException>(() => TrialMemory.Check(TrialMemory.Of(deep))).Message);
        // A linear task's concatenation holds its inputs twice.
        var linear = TrialMemory.Of(Specs.Trial(new LinearTaskSpec(1000, 9), new OptimizerSpec(OptimizerKind.Sgd)))!;
        Assert.Equal(2 * 1000 * 10 * 4.0, linear.Inputs);
    }

    [Fact]
    public void A_loaded_task_that_cannot_train_names_what_training_still_needs()
    {
        var spec = Specs.Trial(new SyntheticTaskSpec(1000, 10, 10, 1), new OptimizerSpec(OptimizerKind.Sgd));
        var training = TrialMemory.Training(spec, [1000, 10], [[10, 10], [10], [10, 10], [10], [1, 10], [1]]);
        Assert.Equal(0.0, training.Inputs + training.Targets);
        Assert.Equal(TrialMemory.Of(spec)!.Activations, training.Activations);
        var refused = Assert.Throws<TrialResourceException>(() => TrialMemory.Check(training, available: 1000));
        // Of the model, only the gradients are still to come.
        Assert.Contains("needs about 169 kB more to train (model and optimizer state 924 B, activations kept for the backward pass 168 kB)", refused.Message);
    }

    [Fact]
    public void A_native_allocation_failure_is_one_line_with_the_size_and_the_native_text_only_in_debug()
    {
        var native = Assert.ThrowsAny<ExternalException>(() => empty([1L << 42])); // 16 TiB of float32
        Assert.Contains("alloc", native.Message); // libtorch's own words, which users must not have to read

        var described = TrialFailures.Describe(native, "the forward pass of step 3", debug: false);
        Assert.Matches(@"^out of memory during the forward pass of step 3: it needed 18 TB at once; this silo has \d+(\.\d)? [GMT]B available$", described);

        var debug = TrialFailures.Describe(native, "the forward pass of step 3", debug: true);
        Assert.StartsWith(described + "\nlibtorch said:\n", debug);
        Assert.Contains(native.Message.Split('\n')[0], debug);
    }

    [Fact]
    public void Other_native_errors_keep_their_first_meaningful_line()
    {
        // (TorchSharp 0.107's matmul does not catch libtorch's errors: the process aborts. reshape does.)
        using var a = zeros(2, 3);
        var native = Assert.ThrowsAny<ExternalException>(() => a.reshape(7));
        var described = TrialFailures.Describe(native, "the backward pass of step 1", debug: false);
        Assert.Equal("libtorch failed during the backward pass of step 1: shape '[7]' is invalid for input of size 6", described);
    }

    [Fact]
    public void Messages_of_the_seen_native_texts_drop_the_diagnostics()
    {
        // The text users saw for synthetic n_row 2e9 (issue 9), and PyTorch's CUDA out-of-memory message.
        const string cpu = "[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 80000000000 bytes. Error code 12 (Cannot allocate memory)\n"
            + "frame #0: c10::ThrowEnforceNotMet(char const*, int, char const*, std::string const&, void const*) + 0x68 (0x7f3a1c0e8f58 in libc10.so)\n";
        Assert.Matches(@"^out of memory during building the task: it needed 80 GB at once; this silo has .* available$",
            TrialFailures.Describe(new ExternalException(cpu), "building the task", debug: false));
        const string gpu = "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB total capacity; 6.50 GiB already allocated)\nException raised from malloc at ...";
        Assert.Equal("out of GPU memory during the backward pass of step 2: it needed 20.00 MiB more on a device that was full",
            TrialFailures.Describe(new ExternalException(gpu), "the backward pass of step 2", debug: false));
        const string other = "[enforce fail at inline_container.cc:595] . unexpected pos 64 vs 0\nException raised from validate at ../c10/core.cpp:12\nframe #0: 0x7f";
        Assert.Equal("libtorch failed during building the task: . unexpected pos 64 vs 0",
            TrialFailures.Describe(new ExternalException(other), "building the task", debug: false));
    }
}
