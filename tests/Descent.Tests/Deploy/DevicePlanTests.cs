using Descent.Grains.Devices;

namespace Descent.Tests.Deploy;

/// <summary>What a silo offers on a GPU node, tested without a GPU: <see cref="DevicePlan.Create"/> with the CUDA device
/// count and the environment injected.</summary>
public class DevicePlanTests
{
    static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void A_pod_given_two_gpus_offers_one_slot_per_gpu()
    {
        // What the NVIDIA device plugin sets for a pod with nvidia.com/gpu: 2, and libtorch then sees two devices.
        var env = Environment(("NVIDIA_VISIBLE_DEVICES", "GPU-5ad1c8f2-0d1b-4c5e-9f4e-1c2d3e4f5a6b,GPU-7be2d9a3-1e2c-4d6f-8a5b-2d3e4f5a6b7c"));
        Assert.Equal(2, DevicePlan.VisibleGpus(env));
        var plan = DevicePlan.Create(new DeviceOptions { Gpus = 2 }, cudaDevices: 2, processorCount: 8, env);
        Assert.Equal([("cuda:0", "cuda:0"), ("cuda:1", "cuda:1")], plan.Devices);
        Assert.Null(plan.TorchThreads);
    }

    [Fact]
    public void A_silo_that_sees_another_number_of_gpus_than_its_limit_refuses_to_start()
    {
        var env = Environment(("NVIDIA_VISIBLE_DEVICES", "0,1"), ("CUDA_VISIBLE_DEVICES", "0"));
        var e = Assert.Throws<DeviceSettingsException>(() => DevicePlan.Create(new DeviceOptions { Gpus = 2 }, 1, 8, env));
        Assert.Equal("Descent:Devices:Gpus = 2: this silo sees 1 CUDA device (NVIDIA_VISIBLE_DEVICES=\"0,1\", CUDA_VISIBLE_DEVICES=\"0\"); "
            + "the silo must offer exactly the GPUs its pod was given (its nvidia.com/gpu limit)", e.Message);
        // The CPU image on a GPU node: no CUDA at all.
        e = Assert.Throws<DeviceSettingsException>(() => DevicePlan.Create(new DeviceOptions { Gpus = 1 }, 0, 8, Environment(("NVIDIA_VISIBLE_DEVICES", "0"))));
        Assert.StartsWith("Descent:Devices:Gpus = 1: this silo sees no CUDA device (NVIDIA_VISIBLE_DEVICES=\"0\", CUDA_VISIBLE_DEVICES unset; the CPU build", e.Message);
        e = Assert.Throws<DeviceSettingsException>(() => DevicePlan.Create(new DeviceOptions { Gpus = 1, UseCuda = false }, 1, 8, Environment()));
        Assert.StartsWith("Descent:Devices:Gpus = 1: this silo does not use CUDA (Descent:Devices:UseCuda = false", e.Message);
    }

    [Fact]
    public void Without_gpus_a_silo_offers_cpu_slots_sharing_the_cores_of_its_limit()
    {
        // processorCount is what .NET reports under a container's CPU limit.
        var plan = DevicePlan.Create(new DeviceOptions(), 0, 4, Environment());
        Assert.Equal([("cpu", "cpu:0"), ("cpu", "cpu:1")], plan.Devices);
        Assert.Equal(2, plan.TorchThreads);
        plan = DevicePlan.Create(new DeviceOptions { CpuSlots = 3, Gpus = 0 }, 0, 2, Environment());
        Assert.Equal(3, plan.Devices.Count);
        Assert.Equal(1, plan.TorchThreads);
        // Several silos on one machine: each one's slots share the cores it is given, not every core of the machine.
        plan = DevicePlan.Create(new DeviceOptions { Cores = 4 }, 0, 12, Environment());
        Assert.Equal([("cpu", "cpu:0"), ("cpu", "cpu:1")], plan.Devices);
        Assert.Equal(2, plan.TorchThreads);
        plan = DevicePlan.Create(new DeviceOptions { Cores = 1 }, 0, 2, Environment());
        Assert.Equal((1, 1), (plan.Devices.Count, plan.TorchThreads));
        // UseCuda = false keeps a GPU node's silo on its CPU.
        Assert.Equal([("cpu", "cpu:0")], DevicePlan.Create(new DeviceOptions { UseCuda = false }, 2, 2, Environment()).Devices);
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("all", null, null)]
    [InlineData("none", null, 0)]
    [InlineData("void", null, 0)]
    [InlineData("", null, 0)]
    [InlineData("0,1,2", null, 3)]
    [InlineData("all", "1,2", 2)]
    [InlineData("0,1", "", 0)]
    [InlineData("0,1", "-1", 0)]
    [InlineData(null, "0,-1,1", 1)]
    public void The_visible_gpus_follow_the_nvidia_and_cuda_variables(string? nvidia, string? cuda, int? visible)
    {
        var variables = new Dictionary<string, string?> { ["NVIDIA_VISIBLE_DEVICES"] = nvidia, ["CUDA_VISIBLE_DEVICES"] = cuda };
        Assert.Equal(visible, DevicePlan.VisibleGpus(name => variables.GetValueOrDefault(name)));
    }

    [Fact]
    public void Bad_device_settings_name_the_setting()
    {
        Assert.Equal("Descent:Devices:Gpus = -1: must be 0 or more",
            Assert.Throws<DeviceSettingsException>(() => DevicePlan.Create(new DeviceOptions { Gpus = -1 }, 0, 2, Environment())).Message);
        Assert.Equal("Descent:Devices:CpuSlots = 0: must be at least 1",
            Assert.Throws<DeviceSettingsException>(() => DevicePlan.Create(new DeviceOptions { CpuSlots = 0 }, 0, 2, Environment())).Message);
        Assert.Equal("Descent:Devices:Cores = 0: must be at least 1",
            Assert.Throws<DeviceSettingsException>(() => DevicePlan.Create(new DeviceOptions { Cores = 0 }, 0, 2, Environment())).Message);
    }
}
