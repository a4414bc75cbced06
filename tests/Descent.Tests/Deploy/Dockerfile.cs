using System.Text.RegularExpressions;

namespace Descent.Tests.Deploy;

/// <summary>A Dockerfile of deploy/, read as docker reads what these files use (no image can be built here): global
/// ARGs with their defaults, stages (FROM base AS name) with their ENV and RUN instructions, comments and line
/// continuations.</summary>
sealed class Dockerfile
{
    public sealed record Stage(string Base, string? Name, IReadOnlyList<(string Instruction, string Text)> Instructions);

    public required string Path { get; init; }
    /// <summary>The ARGs before the first FROM, with their defaults (null: none).</summary>
    public required IReadOnlyDictionary<string, string?> GlobalArgs { get; init; }
    public required IReadOnlyList<Stage> Stages { get; init; }

    public static Dockerfile Read(string path)
    {
        var text = Regex.Replace(File.ReadAllText(path), @"\\\r?\n", " ");
        var globals = new Dictionary<string, string?>();
        var stages = new List<Stage>();
        List<(string, string)>? current = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var match = Regex.Match(line, @"^(\w+)\s+(.*)$");
            Assert.True(match.Success, $"{path}: not an instruction: {line}");
            var (instruction, rest) = (match.Groups[1].Value.ToUpperInvariant(), match.Groups[2].Value.Trim());
            if (instruction == "FROM")
            {
                var from = Regex.Match(rest, @"^(\S+)(?:\s+AS\s+(\S+))?$", RegexOptions.IgnoreCase);
                Assert.True(from.Success, $"{path}: FROM {rest}");
                current = [];
                stages.Add(new Stage(from.Groups[1].Value, from.Groups[2].Success ? from.Groups[2].Value : null, current));
            }
            else if (current is null)
            {
                Assert.True(instruction == "ARG", $"{path}: {instruction} before the first FROM");
                var arg = rest.Split('=', 2);
                globals[arg[0]] = arg.Length == 2 ? arg[1] : null;
            }
            else current.Add((instruction, rest));
        }
        return new Dockerfile { Path = path, GlobalArgs = globals, Stages = stages };
    }

    /// <summary>The stages an image built with <paramref name="args"/> (build args; the defaults for the others) is made
    /// of, from its first base to the last stage.</summary>
    public IReadOnlyList<Stage> Chain(IReadOnlyDictionary<string, string>? args = null)
    {
        var chain = new List<Stage>();
        for (var stage = Stages[^1]; stage is not null; stage = Stages.SingleOrDefault(s => s.Name == Expand(stage.Base, args)))
            chain.Insert(0, stage);
        return chain;
    }

    /// <summary>The environment ENV instructions give the image built with <paramref name="args"/>.</summary>
    public IReadOnlyDictionary<string, string> Environment(IReadOnlyDictionary<string, string>? args = null)
    {
        var environment = new Dictionary<string, string>();
        foreach (var (_, text) in Chain(args).SelectMany(s => s.Instructions).Where(i => i.Instruction == "ENV"))
        {
            var pair = text.Split('=', 2);
            Assert.True(pair.Length == 2 && !pair[1].Contains(' '), $"{Path}: ENV {text}: one KEY=VALUE per ENV, no spaces");
            environment[pair[0]] = pair[1];
        }
        return environment;
    }

    /// <summary>The arguments of the build stage's <c>RUN dotnet publish</c>, ARGs replaced by their defaults.</summary>
    public IReadOnlyList<string> PublishArguments()
    {
        var run = Stages.SelectMany(s => s.Instructions).Where(i => i.Instruction == "RUN" && i.Text.StartsWith("dotnet publish ", StringComparison.Ordinal)).ToList();
        var text = Assert.Single(run).Text;
        Assert.DoesNotContain('"', text);
        Assert.DoesNotContain('\'', text);
        return Expand(text, null).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2..];
    }

    string Expand(string text, IReadOnlyDictionary<string, string>? args) => Regex.Replace(text, @"\$\{(\w+)\}|\$(\w+)", m =>
    {
        var name = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
        if (args?.TryGetValue(name, out var given) == true) return given;
        Assert.True(GlobalArgs.TryGetValue(name, out var value) && value is not null, $"{Path}: ${{{name}}} has no default");
        return value;
    });
}
