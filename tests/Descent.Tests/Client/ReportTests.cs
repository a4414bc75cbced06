using System.Globalization;
using System.Xml.Linq;
using Descent.Client.Reports;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Results;

namespace Descent.Tests.Client;

/// <summary>Figures and report.md from a results.json written here through the results model, with numbers chosen so
/// that every claim of the report has a known answer.</summary>
public class ReportTests
{
    /// <summary>A trial of the results model. <paramref name="losses"/>[k] is the loss at the start of step k+1; each
    /// step takes <paramref name="secondsPerStep"/>.</summary>
    static TrialEntry Trial(string id, string optimizer, double[] losses, double secondsPerStep, double forward, double backward,
        double? finalLoss = null, TrialStatus status = TrialStatus.Completed, long forwardPerStep = 1)
    {
        var final = finalLoss ?? losses[^1] / 2;
        return new TrialEntry
        {
            Id = id,
            Config = [new("optimizer", optimizer), new("variant", optimizer.StartsWith("keep", StringComparison.Ordinal) ? "seed" : null),
                new("lr", 0.01), new("max_steps", null), new("scale_i", null)],
            Task = [new("kind", optimizer == "newton" ? "linear" : "synthetic"), new("seed", 0)],
            Budget = new Budget(losses.Length),
            Status = status,
            FinalLoss = final,
            BestLoss = Math.Min(final, losses.Min()),
            GradientEvaluations = losses.Length,
            ForwardPasses = losses.Length * forwardPerStep,
            ForwardSeconds = forward,
            BackwardSeconds = backward,
            OptimizerSeconds = 0.01,
            BackwardShare = backward / (forward + backward),
            WallSeconds = losses.Length * secondsPerStep,
            Silo = "s",
            Device = "cpu:0",
            Attempts = 1,
            History = [.. losses.Select((loss, k) => new StepRecord(k + 1, loss, (k + 1) * secondsPerStep, (k + 1) * forwardPerStep, k + 1))],
        };
    }

    static ResultsDocument Results(params TrialEntry[] trials) => new()
    {
        Sweep = new SweepHeader { Id = "fixture-1", Name = "fixture", Status = SweepStatus.Done, TrialCount = trials.Length },
        Trials = trials,
        Leaderboard = [.. trials.OrderBy(t => t.FinalLoss).Select((t, i) => new LeaderboardEntry
        {
            Rank = i + 1, Trial = t.Id, Optimizer = t.Optimizer, FinalLoss = t.FinalLoss, Status = t.Status,
        })],
    };

    /// <summary>Writes <paramref name="results"/> as results.json and reads it back, as <c>report</c> does.</summary>
    static ResultsFile Save(ResultsDocument results)
    {
        var path = Path.Combine(GridFiles.Folder(), "results.json");
        using (var file = File.Create(path)) ResultsJson.Write(file, results);
        return ResultsFile.Load(path);
    }

    static ResultsDocument Fixture() => Results(
        // adam reaches 0.5 at the start of step 5 (after 4 steps: 0.4 s, 4 gradients)
        Trial("adam1", "adam", [10, 5, 2, 1, 0.5, 0.2], 0.1, forward: 1, backward: 3),
        // sgd reaches 0.5 at the start of step 8 (after 7 steps: 1.4 s)
        Trial("sgd1", "sgd", [10, 8, 6, 4, 2, 1, 0.8, 0.5], 0.2, forward: 1, backward: 1, finalLoss: 0.5),
        // keep-stepping reaches it at the start of step 3: 2 gradients, but 1.0 s (slower than adam, faster than sgd)
        Trial("ks1", "keep-stepping", [10, 1, 0.4, 0.1], 0.5, forward: 4, backward: 1, forwardPerStep: 10),
        // keep-vaulting never reaches it
        Trial("kv1", "keep-vaulting", [10, 9, 8], 0.05, forward: 2, backward: 1),
        // newton: after one step at its best
        Trial("newton1", "newton", [25, 0.25, 0.25], 0.01, forward: 0.1, backward: 0.2, finalLoss: 0.25));

    [Fact]
    public void The_report_tests_the_posts_claims_with_the_results_numbers()
    {
        var results = Save(Fixture());
        // The default target: the largest final loss of completed adam and sgd trials (sgd's 0.5; adam's is 0.1).
        Assert.Equal(0.5, Report.DefaultTarget(results));
        var report = Report.Render(results, Report.DefaultTarget(results));

        // Backward share over adam and sgd: (3 + 1) / (1 + 3 + 1 + 1).
        Assert.Contains($"took **{(4.0 / 6 * 100).ToString("F1", CultureInfo.InvariantCulture)}%** of forward plus backward time (4.00 s of 6.00 s; per trial 50.0% to 75.0%)", report);
        Assert.Contains("The post measured about 80%: here the backward pass is a smaller share", report);
        Assert.Contains("their backward share was 20.0% to 33.3%", report);

        Assert.Contains("| `newton1` | linear seed=0 | completed | 25 | 0.25 | 0.25 | yes |", report);

        Assert.Contains("Target loss: **0.5**", report);
        Assert.Contains("- adam: fastest in time 0.40 s (`adam1`), fewest gradient evaluations 4 (`adam1`)", report);
        Assert.Contains("- sgd: fastest in time 1.40 s (`sgd1`), fewest gradient evaluations 7 (`sgd1`)", report);
        Assert.Contains("| keep-stepping lr=0.01 variant=seed | `ks1` | 1.00 | 2 | no | yes | yes | yes |", report);
        Assert.Contains("| keep-vaulting lr=0.01 variant=seed | `kv1` | not reached | not reached | no | no | no | no |", report);
        Assert.Contains("**0 of 2** K-optimizer trials reached the target before both baselines in wall-clock time, **1 of 2** with fewer gradient evaluations", report);

        // The leaderboard shows results.json's ranks and final losses.
        Assert.Contains("| 2 | `adam1` | adam lr=0.01 | completed | 0.1 | 6 | 0.60 | 75.0% |", report);
        Assert.Contains("| 5 | `kv1` | keep-vaulting lr=0.01 variant=seed | completed | 4 | 3 | 0.15 | 33.3% |", report);

        // A given target changes the race: at 0.1 only adam (its final loss, after 6 steps) and keep-stepping (after 3) get there.
        var strict = Report.Render(results, 0.1);
        Assert.Contains("- sgd: never reached it", strict);
        Assert.Contains("| keep-stepping lr=0.01 variant=seed | `ks1` | 1.50 | 3 | no | yes | yes | yes |", strict);
    }

    [Fact]
    public void A_curve_puts_each_loss_where_the_step_before_it_ended_and_ends_with_the_final_loss()
    {
        var results = Save(Fixture());
        var ks = results.Trials.Single(t => t.Id == "ks1"); // losses 10, 1, 0.4, 0.1; steps of 0.5 s; final 0.05
        Assert.Equal([(0, 10), (0.5, 1), (1.0, 0.4), (1.5, 0.1), (2.0, 0.05)], Figures.Points(ks, p => p.ElapsedSeconds));
        Assert.Equal([(0, 10), (1, 1), (2, 0.4), (3, 0.1), (4, 0.05)], Figures.Points(ks, p => p.GradientEvaluations));
        // The report's "reached 0.5 after 1.00 s and 2 gradients" is where the curve first drops to 0.5 or below.
        Assert.Equal((1.0, 2L), ks.Reached(0.5));
        Assert.Equal((0, 0L), ks.Reached(10));
    }

    [Fact]
    public void Without_baselines_or_newton_the_report_says_so()
    {
        var report = Report.Render(Save(Results(Trial("ks1", "keep-stepping", [1, 0.5], 0.1, 1, 1))), null);
        Assert.Contains("No Adam or SGD trial measured its forward and backward time", report);
        Assert.Contains("No `newton` trial in this sweep.", report);
        Assert.Contains("No target loss", report);
    }

    [Fact]
    public void Figures_are_valid_png_and_svg_files_that_change_with_the_data()
    {
        var first = Save(Fixture());
        var firstDir = Path.GetDirectoryName(first.Path)!;
        var files = Figures.Draw(first, firstDir);
        Assert.Equal(6, files.Count);
        foreach (var name in Figures.Names)
        {
            var png = File.ReadAllBytes(Path.Combine(firstDir, name + ".png"));
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
            Assert.Equal(1400, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
            Assert.Equal(700, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
            var svg = XDocument.Load(Path.Combine(firstDir, name + ".svg"));
            Assert.Equal("svg", svg.Root!.Name.LocalName);
        }
        Assert.Contains("adam lr=0.01", File.ReadAllText(Path.Combine(firstDir, "loss_vs_time.svg")));
        Assert.Empty(Directory.GetFiles(firstDir, "*.tmp*"));

        var fixture = Fixture();
        var adam = fixture.Trials[0];
        var history = adam.History.ToArray();
        history[3] = history[3] with { Loss = 1e-6 };
        var second = Save(fixture with { Trials = [adam with { History = history }, fixture.Trials[1] with { BackwardShare = 0.9 }, .. fixture.Trials.Skip(2)] });
        var secondDir = Path.GetDirectoryName(second.Path)!;
        Figures.Draw(second, secondDir);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(firstDir, "loss_vs_time.png")), File.ReadAllBytes(Path.Combine(secondDir, "loss_vs_time.png")));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(firstDir, "backward_share.png")), File.ReadAllBytes(Path.Combine(secondDir, "backward_share.png")));
    }

    /// <summary>The least a results.json holds: the sweep, a trial with its config, task, budget, status and history, a
    /// leaderboard row. Every other key is read as null (or 0) when absent.</summary>
    const string Minimal = """
        {"sweep": {"id": "a", "name": "b", "status": "done"},
         "trials": [{"id": "t", "config": {"optimizer": "sgd"}, "task": {"kind": "synthetic"}, "budget": {"steps": 1}, "status": "completed",
                     "history": [{"step": 1, "loss": null, "elapsed_seconds": 0.1, "forward_passes": 1, "gradient_evaluations": 1}]}],
         "leaderboard": [{"rank": 1, "trial": "t", "status": "completed"}]}
        """;

    [Fact]
    public void The_least_a_results_file_holds_is_read()
    {
        var results = ResultsFile.Load(GridFiles.Write(Minimal, name: "results.json"));
        Assert.Equal(MetricKind.FinalLoss, results.Sweep.Metric);
        Assert.Equal("done", results.Status);
        var trial = Assert.Single(results.Trials);
        Assert.True(trial is { Optimizer: "sgd", FinalLoss: null, Attempts: 0, Message: null });
        Assert.True(double.IsNaN(trial.History[0].Loss));
        Assert.Contains("| 1 | `t` | sgd | completed | n/a |", Report.Render(results, null));
    }

    [Theory]
    [InlineData("{\"sweep\": {}}", null)]
    [InlineData("[]", null)]
    [InlineData("null", null)]
    [InlineData("", null)]
    [InlineData("\"status\": \"done\"", "\"status\": \"finished\"")] // not a sweep status
    [InlineData("\"status\": \"completed\",", "\"status\": \"exploded\",")] // not a trial status
    [InlineData("\"status\": \"done\"", "\"status\": \"done\", \"metric\": \"accuracy\"")]
    [InlineData("\"status\": \"done\"", "\"status\": \"done\", \"started_at\": \"yesterday\"")]
    [InlineData("\"optimizer\": \"sgd\"", "\"lr\": 0.1")] // a trial without its optimizer
    [InlineData("\"id\": \"a\"", "\"id\": null")]
    [InlineData("\"budget\": {\"steps\": 1}, ", "")]
    [InlineData("\"elapsed_seconds\": 0.1, ", "")]
    [InlineData("\"leaderboard\": [{\"rank\": 1, \"trial\": \"t\", \"status\": \"completed\"}]", "\"leaderboard\": {}")]
    public void A_file_that_is_not_a_results_file_is_named(string part, string? replacement)
    {
        var text = replacement is null ? part : Minimal.Replace(part, replacement, StringComparison.Ordinal);
        Assert.NotEqual(Minimal, text);
        var path = GridFiles.Write(text, name: "results.json");
        Assert.Contains($"results = \"{path}\": not a Descent results.json (", Assert.Throws<ReportInputException>(() => ResultsFile.Load(path)).Message);
        Assert.Contains("no such file", Assert.Throws<ReportInputException>(() => ResultsFile.Load(path + ".missing")).Message);
    }
}
