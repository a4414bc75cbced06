namespace Descent.Tests.Deploy;

/// <summary>deploy/silo.Dockerfile, deploy/client.Dockerfile and the build context (.dockerignore), read as docker reads
/// them: no image can be built here.</summary>
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

    [Fact]
    public void The_build_context_leaves_out_what_git_ignores_at_any_depth()
    {
        static string[] Patterns(string file) => File.ReadAllLines(Path.Combine(Manifests.Root, file))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        var docker = Patterns(".dockerignore");
        // .gitignore's "bin/" (no inner slash) means a bin folder anywhere; .dockerignore's means the root's only.
        foreach (var pattern in Patterns(".gitignore"))
        {
            var anywhere = !pattern.TrimEnd('/').Contains('/');
            Assert.True(docker.Contains(anywhere ? $"**/{pattern}" : pattern.TrimStart('/')),
                $".gitignore leaves out {pattern}{(anywhere ? " at any depth" : "")}; .dockerignore does not ({(anywhere ? $"**/{pattern}" : pattern)})");
        }
        // The validator's npm install on the test machine is not part of the sources.
        Assert.Contains("**/node_modules/", docker);
        // Nor are README's host builds (dotnet publish -c Release src/Silo -o out/silo), which git must not track either.
        Assert.Contains("/out/", Patterns(".gitignore"));
        Assert.Contains("out/", docker);
    }
}
