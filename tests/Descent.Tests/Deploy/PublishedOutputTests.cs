using System.Diagnostics;
using System.Net;

namespace Descent.Tests.Deploy;

/// <summary>What the container images copy: <c>dotnet publish</c> of descent-silo and descent-client with the arguments
/// of deploy/silo.Dockerfile's and deploy/client.Dockerfile's <c>RUN dotnet publish</c> (read from them, build args at
/// their defaults: the CPU silo), but in the configuration these tests were built in and without building again: a
/// Release build of both programs takes about 25 s more on two cores. Nothing in the build depends on the
/// configuration (<see cref="The_images_publish_release_and_nothing_in_the_build_depends_on_the_configuration"/>). No image
/// can be built or run here, so the published output is run as the image's entry point would run it.</summary>
public sealed class PublishedOutput : IDisposable
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("descent-publish-").FullName;
    public string Silo => Path.Combine(Folder, "silo");
    public string Client => Path.Combine(Folder, "client");

    /// <summary>The Dockerfile's publish arguments with this output folder, the tests' configuration and --no-build.</summary>
    public static string[] Arguments(string dockerfile, string output, string configuration)
    {
        var args = Dockerfile.Read(Path.Combine(Manifests.Root, "deploy", dockerfile)).PublishArguments().ToList();
        foreach (var (option, value) in new[] { ("-o", output), ("-c", configuration) })
        {
            var at = args.IndexOf(option);
            Assert.True(at >= 0, $"deploy/{dockerfile}: dotnet publish without {option}");
            args[at + 1] = value;
        }
        args[0] = Path.Combine(Manifests.Root, args[0]);
        return ["publish", .. args, "--no-build", "-nologo"];
    }

    public PublishedOutput()
    {
        // The tests' project references built both programs: publish without building again, in parallel.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var publishes = new[] { ("silo.Dockerfile", Silo), ("client.Dockerfile", Client) }.Select(p => Task.Run(() =>
            Manifests.Run("dotnet", Arguments(p.Item1, p.Item2, configuration), null, Manifests.Root))).ToArray();
        foreach (var (result, name) in publishes.Select(t => t.Result).Zip(new[] { "silo", "client" }))
            Assert.True(result.Exit == 0, $"dotnet publish of the {name} failed: {result.Output}{result.Error}");
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

[Collection(nameof(AloneOnTheMachine))]
public class PublishedOutputTests(PublishedOutput published) : IClassFixture<PublishedOutput>
{
    /// <summary>Runs a published program under dotnet, with the machine's cluster, pod and telemetry variables removed
    /// and <paramref name="environment"/> added.</summary>
    static Process Start(string folder, string program, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(folder, program), .. args])
        {
            WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("DESCENT", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("OTEL_", StringComparison.Ordinal) || k.StartsWith("KUBERNETES_", StringComparison.Ordinal)
                     || k.StartsWith("POD_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return Process.Start(start)!;
    }

    static async Task<(int Exit, string Out, string Err)> Run(string folder, string program, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = Start(folder, program, environment, args);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public void The_images_publish_release_and_nothing_in_the_build_depends_on_the_configuration()
    {
        foreach (var dockerfile in new[] { "silo.Dockerfile", "client.Dockerfile" })
        {
            var args = Dockerfile.Read(Path.Combine(Manifests.Root, "deploy", dockerfile)).PublishArguments().ToList();
            Assert.Equal("Release", args[args.IndexOf("-c") + 1]);
            // What these tests publish differs from the image's only in the configuration and --no-build.
            var ours = PublishedOutput.Arguments(dockerfile, "/app", "Release");
            Assert.Equal(["publish", .. args.Skip(1)], ours.Where((_, i) => i != 1).SkipLast(2));
        }
        // So the Debug output published here has the image's files: no project, props or targets file of the build
        // (nor a C# file) branches on the configuration.
        var sources = new[] { "*.props", "*.targets", "*.csproj", "*.cs" }
            .SelectMany(pattern => Directory.EnumerateFiles(Manifests.Root, pattern, SearchOption.AllDirectories))
            .Where(f => !Path.GetRelativePath(Manifests.Root, f).Split(Path.DirectorySeparatorChar).Any(d => d is "bin" or "obj" or "node_modules" or ".git"))
            .Where(f => !f.EndsWith($"{nameof(PublishedOutputTests)}.cs", StringComparison.Ordinal));
        foreach (var file in sources)
        {
            var text = File.ReadAllText(file);
            Assert.False(text.Contains("$(Configuration)", StringComparison.Ordinal) || text.Contains("'$(Optimize)'", StringComparison.Ordinal)
                || System.Text.RegularExpressions.Regex.IsMatch(text, @"^\s*#\s*if\b.*\b(DEBUG|RELEASE)\b", System.Text.RegularExpressions.RegexOptions.Multiline),
                $"{Path.GetRelativePath(Manifests.Root, file)} depends on the build configuration: publish Release here as the Dockerfiles do");
        }
    }

    [Fact]
    public void The_published_torchsharp_shim_loads_on_this_hosts_libstdcxx()
    {
        var host = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        foreach (var folder in new[] { published.Silo, published.Client })
        {
            var shim = Path.Combine(folder, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
            Assert.True(File.Exists(shim), $"{shim} is missing");
            if (host is null || File.ReadAllText(host, System.Text.Encoding.Latin1).Contains("GLIBCXX_3.4.32\0", StringComparison.Ordinal)) continue;
            var (_, versions, _) = Manifests.Run("readelf", ["-V", shim], null, folder);
            Assert.Contains("Flags: WEAK", versions.Split('\n').Single(l => l.Contains("Name: GLIBCXX_3.4.32", StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task The_published_silo_starts_serves_its_probes_and_stops_on_sigterm()
    {
        var health = FreePort();
        using var silo = Start(published.Silo, "descent-silo.dll", new Dictionary<string, string>
        {
            ["Descent__SiloPort"] = $"{FreePort()}", ["Descent__GatewayPort"] = $"{FreePort()}", ["Descent__Health__Port"] = $"{health}",
        });
        var error = silo.StandardError.ReadToEndAsync();
        var output = silo.StandardOutput.ReadToEndAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        HttpStatusCode? ready = null;
        while (ready != HttpStatusCode.OK && DateTime.UtcNow < deadline && !silo.HasExited)
        {
            try { ready = (await http.GetAsync($"http://127.0.0.1:{health}/healthz/ready")).StatusCode; }
            catch (HttpRequestException) { await Task.Delay(200); }
        }
        Assert.True(ready == HttpStatusCode.OK, $"not ready within 60 s (exited: {silo.HasExited})");
        // What the kubelet sends a pod that is deleted or scaled away.
        Process.Start("kill", ["-TERM", $"{silo.Id}"])!.WaitForExit();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await silo.WaitForExitAsync(timeout.Token);
        Assert.True(silo.ExitCode == 0, $"exit {silo.ExitCode}: {await error}");
        Assert.Contains("offers 1 device slot(s)", await output + await error);
    }

    [Fact]
    public async Task The_published_silo_refuses_bad_pod_and_device_settings_with_a_line_each()
    {
        // In a pod whose manifest lacks the downward-API variables.
        var (exit, _, error) = await Run(published.Silo, "descent-silo.dll", new Dictionary<string, string>
        {
            ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1", ["Descent__Clustering"] = "redis", ["Descent__Redis"] = "redis://127.0.0.1:1",
            ["POD_NAMESPACE"] = "descent",
        });
        Assert.Equal(2, exit);
        Assert.Equal([
            "descent-silo: POD_NAME = \"\": a silo in a Kubernetes pod needs it from the downward API (or set Descent:Kubernetes:Enabled=false)",
            "descent-silo: POD_IP = \"\": a silo in a Kubernetes pod needs it from the downward API (or set Descent:Kubernetes:Enabled=false)",
            // (No pod here, so no service account token either.)
            "descent-silo: Kubernetes hosting needs the pod's service account token at /var/run/secrets/kubernetes.io/serviceaccount/token "
                + "(automountServiceAccountToken must not be false), or set Descent:Kubernetes:Enabled=false",
        ], error.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // The CPU build given a GPU limit: it sees no CUDA device, and says so before it joins anything.
        string output;
        (exit, output, error) = await Run(published.Silo, "descent-silo.dll", new Dictionary<string, string>
        {
            ["Descent__SiloPort"] = $"{FreePort()}", ["Descent__GatewayPort"] = "0", ["Descent__Devices__Gpus"] = "1",
            ["NVIDIA_VISIBLE_DEVICES"] = "GPU-5ad1c8f2",
        });
        Assert.Equal(2, exit);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("descent-silo: Descent:Devices:Gpus = 1: this silo sees no CUDA device (NVIDIA_VISIBLE_DEVICES=\"GPU-5ad1c8f2\"", line);
        Assert.DoesNotContain("   at ", output);

        // A health port another process holds.
        using var holder = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        (exit, output, error) = await Run(published.Silo, "descent-silo.dll", new Dictionary<string, string>
        {
            ["Descent__SiloPort"] = $"{FreePort()}", ["Descent__GatewayPort"] = "0", ["Descent__Health__Port"] = $"{taken}",
        });
        Assert.Equal(2, exit);
        Assert.Equal($"descent-silo: Descent:Health:Port = {taken}: cannot listen on 127.0.0.1:{taken} (Address already in use)", error.Trim());
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task The_published_client_runs()
    {
        var (exit, output, _) = await Run(published.Client, "descent-client.dll", null, "sweep", "--help");
        Assert.Equal(0, exit);
        Assert.Contains("--cluster", output);
    }
}
