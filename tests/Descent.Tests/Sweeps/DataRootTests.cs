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

    /// <summary>A file under the root that is not a well-formed CSV (a copy of a passwd file, with a token in a comment
    /// field) fails every trial that names it, whatever the grid asks for, and no message quotes a byte of it.</summary>
    [Fact]
    public void A_file_under_the_root_that_is_not_a_csv_fails_without_its_content_in_the_message()
    {
        const string token = "s3cr3t-T0KEN-4d1f";
        var passwd = Write(_root, "accounts/passwd",
            "root:x:0:0:root:/root:/bin/bash\n" +
            "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
            $"alice:x:1000:1000:Alice,Room 7,{token},:/home/alice:/bin/bash\n" +
            $"bob:x:1001:1001:Bob,{token},\"unclosed:/home/bob:/bin/sh\n");
        var withCommas = Write(_root, "accounts/shadow.csv", $"user,{token},y\nalice,{token},1\n");
        var runner = new TorchTrialRunner(Options.Create(new TracingOptions()), Options.Create(new DataRootOptions { Root = _root }));
        var lease = new TrialLease("sweep", "trial", 1, new TrialSpec(new CsvTaskSpec(passwd, "root"), new OptimizerSpec(OptimizerKind.Sgd, 0.1), new Budget(2)),
            new DeviceSlot("silo", 0, "cpu", "cpu:0"), new RankMetric(), TimeSpan.FromSeconds(30));
        // What a grid may ask of these files: a column that is not there, the whole first line as the target (one
        // column: no features), a header name as the target so that the rows are read (a cell that is not a number,
        // a ragged row), and the token itself, which the message may quote because the grid named it.
        var cases = new (string Path, string Target, string Expected)[]
        {
            (passwd, "root", $"task.target = \"root\": {passwd} has no such column (its header row, line 1, names 1 column, none of them \"root\")"),
            (passwd, "root:x:0:0:root:/root:/bin/bash", $"task.path = \"{passwd}\": only the target column; there are no feature columns"),
            (withCommas, "y", $"{withCommas} line 2, column 1: the cell is not a number"),
            (withCommas, "user", $"{withCommas} line 2, column 1 (the target \"user\"): the cell is not a number"),
            (withCommas, token, $"{withCommas} line 2, column 1: the cell is not a number"),
        };
        foreach (var (path, target, expected) in cases)
        {
            var result = runner.Run(lease with { Spec = lease.Spec with { Task = new CsvTaskSpec(path, target) } }, _ => { }, () => { }, CancellationToken.None, () => false);
            Assert.Equal(TrialStatus.Failed, result.Status);
            Assert.Equal(expected, result.Message);
            if (target != token) Assert.DoesNotContain(token, result.Message);
        }

        // A passwd file whose header happens to hold the grid's target and a comma reads its rows: ragged, or with
        // a quote never closed, still only the place is named.
        var ragged = Write(_root, "accounts/group", $"root,x\nwheel:x:10:{token},alice,bob\n");
        var unclosed = Write(_root, "accounts/group-", $"root,x\n{token},\"alice\n");
        foreach (var (path, expected) in new[]
                 {
                     (ragged, $"{ragged} line 2: 3 fields, but the header has 2"),
                     (unclosed, $"{unclosed} line 2: a quoted field is not closed"),
                 })
        {
            var result = runner.Run(lease with { Spec = lease.Spec with { Task = new CsvTaskSpec(path, "root") } }, _ => { }, () => { }, CancellationToken.None, () => false);
            Assert.Equal(expected, result.Message);
            Assert.DoesNotContain(token, result.Message);
        }
    }
}
