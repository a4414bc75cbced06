using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Descent.Grains.Telemetry;
using Microsoft.Extensions.Options;

namespace Descent.Tests.Sweeps;

/// <summary>A silo reads task files only under its data root: paths outside it, with "..", or leading out of it through
/// a symbolic link are refused naming the path, and no refusal quotes the file.</summary>
public sealed class DataRootTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("descent-data-root-").FullName;
    readonly string _outside = Directory.CreateTempSubdirectory("descent-outside-").FullName;

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_outside, recursive: true);
    }

    string Write(string folder, string name, string text = "x,y\n1,2\n")
    {
        var path = Path.Combine(folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_file_under_the_root_is_read_also_through_links_that_stay_inside()
    {
        var data = Write(_root, "sub/data.csv");
        Assert.Null(DataRoot.Problem(data, _root));
        var link = Path.Combine(_root, "link.csv");
        File.CreateSymbolicLink(link, data);
        Assert.Null(DataRoot.Problem(link, _root));
        // The root itself may be reached through a link.
        var rootLink = Path.Combine(_outside, "root-link");
        Directory.CreateSymbolicLink(rootLink, _root);
        Assert.Null(DataRoot.Problem(Path.Combine(rootLink, "sub", "data.csv"), rootLink));
        Assert.Null(DataRoot.Problem(data, "/")); // the embedded silo's root
    }

    [Fact]
    public void Paths_outside_the_root_are_refused_naming_the_path_and_never_the_content()
    {
        const string secret = "root:x:0:0:secret";
        var outside = Write(_outside, "secret.csv", secret + "\n");
        var link = Path.Combine(_root, "innocent.csv");
        File.CreateSymbolicLink(link, outside);
        var dotted = Path.Combine(_root, "..", Path.GetFileName(_outside), "secret.csv");
        var cases = new Dictionary<string, (string? Root, string Expected)>
        {
            [outside] = (_root, "is outside the data root"),
            [link] = (_root, "leads outside the data root " + _root + " through a symbolic link"),
            [dotted] = (_root, "must not contain \"..\""),
            ["secret.csv"] = (_root, "must be an absolute path"),
            [Path.Combine(_root, "missing.csv")] = (_root, "no such file on this silo"),
        };
        foreach (var (path, (root, expected)) in cases)
        {
            var problem = DataRoot.Problem(path, root);
            Assert.NotNull(problem);
            Assert.StartsWith($"task.path = \"{path}\"", problem);
            Assert.Contains(expected, problem);
            Assert.DoesNotContain("secret", problem.Replace(path, ""));
        }
        Assert.Contains("Descent:DataRoot", DataRoot.Problem(outside, null));
        Assert.Contains("does not exist on this silo", DataRoot.Problem(outside, Path.Combine(_root, "gone")));
    }

    [Fact]
    public void A_csv_trial_outside_the_root_fails_before_its_file_is_opened()
    {
        var runner = new TorchTrialRunner(Options.Create(new TracingOptions()), Options.Create(new DataRootOptions { Root = _root }));
        var spec = new TrialSpec(new CsvTaskSpec("/etc/passwd", "root"), new OptimizerSpec(OptimizerKind.Sgd, 0.1), new Budget(2));
        var lease = new TrialLease("sweep", "trial", 1, spec, new DeviceSlot("silo", 0, "cpu", "cpu:0"), new RankMetric(), TimeSpan.FromSeconds(30));
        var result = runner.Run(lease, _ => { }, () => { }, CancellationToken.None, () => false);
        Assert.Equal(TrialStatus.Failed, result.Status);
        Assert.Equal($"task.path = \"/etc/passwd\": is outside the data root {_root}", result.Message);

        // Under the root it trains as usual.
        var data = Write(_root, "line.csv", "x,y\n" + string.Join("\n", Enumerable.Range(0, 20).Select(i => $"{i},{2 * i + 1}")) + "\n");
        var inside = runner.Run(lease with { Spec = spec with { Task = new CsvTaskSpec(data, "y") } }, _ => { }, () => { }, CancellationToken.None, () => false);
        Assert.Equal(TrialStatus.Completed, inside.Status);
    }
}
