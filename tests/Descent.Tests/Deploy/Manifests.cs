using System.Collections.Concurrent;
using System.Diagnostics;
using k8s;

namespace Descent.Tests.Deploy;

/// <summary>deploy/k8s rendered by <c>kubectl kustomize</c> and checked offline: with the npm package kubernetes-models
/// (deploy/k8s/validate, pinned by its package-lock.json) and with KubernetesClient's strict YAML loading.</summary>
static class Manifests
{
    public static readonly string Root = FindRoot();
    public static string K8s => Path.Combine(Root, "deploy", "k8s");
    static string Validator => Path.Combine(K8s, "validate");

    static readonly ConcurrentDictionary<string, Lazy<string>> Rendered = new();
    static readonly Lazy<string?> NodeModules = new(InstallValidator);

    /// <summary>The YAML <c>kubectl kustomize deploy/k8s/<paramref name="folder"/></c> prints (once per test run).</summary>
    public static string Render(string folder) => Rendered.GetOrAdd(folder, f => new Lazy<string>(() =>
    {
        var (exit, output, error) = Run("kubectl", ["kustomize", Path.Combine(K8s, f)], null, Root);
        Assert.True(exit == 0, $"kubectl kustomize deploy/k8s/{f} failed ({exit}): {error}");
        return output;
    })).Value;

    /// <summary>Every object of <paramref name="yaml"/>, typed by its apiVersion and kind (k8s.Models); throws on a field
    /// the Kubernetes API does not have, a value of the wrong type, or an unknown kind.</summary>
    public static List<object> LoadStrict(string yaml) => KubernetesYaml.LoadAllFromString(yaml, strict: true);

    /// <summary>kubernetes-models' verdict on every object of <paramref name="yaml"/>: the exit code (0: all valid) and a
    /// line per object.</summary>
    public static (int Exit, string Output) ValidateWithModels(string yaml)
    {
        Assert.True(NodeModules.Value is null, NodeModules.Value);
        var (exit, output, error) = Run("node", [Path.Combine(Validator, "validate.mjs")], yaml, Validator);
        return (exit, output + error);
    }

    /// <summary>Installs the validator's npm packages exactly as package-lock.json pins them (npm ci), when they are
    /// missing (.ci/run installs them before the tests), refusing a package that asks for a newer Node than this one
    /// (--engine-strict). Null when done, else why not.</summary>
    static string? InstallValidator()
    {
        if (Directory.Exists(Path.Combine(Validator, "node_modules", "kubernetes-models"))) return null;
        var (exit, output, error) = Run("npm", ["ci", "--no-audit", "--no-fund", "--engine-strict"], null, Validator);
        return exit == 0 ? null : $"npm ci in {Validator} failed ({exit}): {output}{error}";
    }

    public static (int Exit, string Output, string Error) Run(string program, string[] args, string? input, string directory)
    {
        var start = new ProcessStartInfo(program, args)
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not end within 2 minutes");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    static string FindRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "Descent.sln"))) return folder.FullName;
        throw new InvalidOperationException($"no Descent.sln above {AppContext.BaseDirectory}");
    }
}
