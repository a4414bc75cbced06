using System.Text;
using Descent.Sweeps;

namespace Descent.Tests.Client;

/// <summary>Grid files written to a temporary folder, parsed the way descent-client parses them.</summary>
static class GridFiles
{
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Descent.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Descent.sln not found above the test folder");
        }
    }

    public static string Folder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "descent-grid-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static string Write(string json, string? folder = null, string name = "grid.json")
    {
        var path = Path.Combine(folder ?? Folder(), name);
        File.WriteAllText(path, json, new UTF8Encoding(false));
        return path;
    }

    public static SweepPlan Plan(string json, int maxTrials = GridFile.DefaultMaxTrials) => GridFile.Load(Write(json), maxTrials);

    public static IReadOnlyList<GridProblem> Problems(string json, int maxTrials = GridFile.DefaultMaxTrials) =>
        Assert.Throws<GridException>(() => GridFile.Load(Write(json), maxTrials)).Problems;

    /// <summary>A valid grid with <paramref name="parameters"/> (a JSON object body) and optional extra top-level keys.</summary>
    public static string Grid(string parameters, string extra = "", string task = Synthetic) =>
        $$$"""{"name": "t", "task": {{{task}}}, "budget": {"steps": 3}, {{{extra}}} "parameters": { {{{parameters}}} }}""";

    public const string Synthetic = """{"kind": "synthetic", "n_row": 50, "dim_in": 3, "dim_hidden": 4, "n_layers": 1, "seed": 0}""";

    public static object? Config(PlannedTrial trial, string key) => trial.Config.FirstOrDefault(c => c.Key == key).Value;
}
