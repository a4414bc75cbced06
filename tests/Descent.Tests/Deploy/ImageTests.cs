namespace Descent.Tests.Deploy;

/// <summary>deploy/silo.Dockerfile and deploy/client.Dockerfile, read as docker reads them: no image can be built here.</summary>
public class ImageTests
{
    static string DeployFile(string name) => Path.Combine(Manifests.Root, "deploy", name);

    [Fact]
    public void The_cuda_image_looks_for_the_driver_where_gke_mounts_it_and_the_cpu_image_does_not()
    {
        var silo = Dockerfile.Read(DeployFile("silo.Dockerfile"));
        // The backend is a build arg, cpu unless given, and the value the projects know (Directory.Build.props).
        Assert.Equal("cpu", silo.GlobalArgs["BACKEND"]);
        Assert.Contains("-p:DescentBackend=cpu", silo.PublishArguments());
        var cuda = silo.Environment(new Dictionary<string, string> { ["BACKEND"] = "cuda" });
        // GKE's device plugin mounts the driver's libraries (libcuda.so.1) at /usr/local/nvidia/lib64.
        Assert.True(cuda.TryGetValue("LD_LIBRARY_PATH", out var path), "the CUDA image sets no LD_LIBRARY_PATH");
        Assert.Contains("/usr/local/nvidia/lib64", path.Split(':'));
        // No empty entry: the loader would search the working directory.
        Assert.DoesNotContain("", path.Split(':'));
        Assert.Contains("compute", cuda["NVIDIA_DRIVER_CAPABILITIES"].Split(','));
        var cpu = silo.Environment();
        Assert.False(cpu.ContainsKey("LD_LIBRARY_PATH"));
        Assert.False(cpu.ContainsKey("NVIDIA_DRIVER_CAPABILITIES"));
        // Both images run the same silo: what follows the backend's runtime stage is shared.
        Assert.Equal(cpu["Descent__ListenOnAllInterfaces"], cuda["Descent__ListenOnAllInterfaces"]);
        Assert.Equal(silo.Stages[^1], silo.Chain(new Dictionary<string, string> { ["BACKEND"] = "cuda" })[^1]);
        Assert.Equal(["mcr.microsoft.com/dotnet/aspnet:10.0", "mcr.microsoft.com/dotnet/aspnet:10.0"],
            new[] { "cpu", "cuda" }.Select(b => silo.Chain(new Dictionary<string, string> { ["BACKEND"] = b })[0].Base));
    }
}
