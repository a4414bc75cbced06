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
        double? finalLoss = null, TrialStatus status = TrialStatus.Completed, long forwardPerStep = 1, double? scale = null, long? seed = null)
    {
        var final = finalLoss ?? losses[^1] / 2;
        List<KeyValuePair<string, object?>> config = [new("optimizer", optimizer), new("variant", optimizer.StartsWith("keep", StringComparison.Ordinal) ? "seed" : null),
            new("lr", 0.01), new("max_steps", null), new("scale_i", scale)];
        if (seed is not null) config.Add(new("seed", seed));
        return new TrialEntry
        {
            Id = id,
            Config = config,
            Task = [new("kind", optimizer == "newton" ? "linear" : "synthetic"), new("seed", seed ?? 0)],
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
        var report = Report.Render(results, null);

        // Backward share over adam and sgd: (3 + 1) / (1 + 3 + 1 + 1).
        Assert.Contains($"took **{(4.0 / 6 * 100).ToString("F1", CultureInfo.InvariantCulture)}%** of forward plus backward time (4.00 s of 6.00 s; per trial 50.0% to 75.0%)", report);
        Assert.Contains("The post measured about 80%: here the backward pass is a smaller share", report);
        Assert.Contains("their backward share was 20.0% to 33.3%", report);

        Assert.Contains("| `newton1` | linear seed=0 | completed | 25 | 0.25 | 0.25 | yes |", report);

        Assert.Contains("Target loss: **0.5**, the final loss of `sgd1` (sgd lr=0.01), the highest final loss among the completed Adam and SGD trials. "
            + "Every completed baseline trial got at least this low within its budget", report);
        Assert.Contains("- Adam: `adam lr=0.01` (`adam1`): 0.40 s, 4 gradient evaluations", report);
        Assert.Contains("- SGD: `sgd lr=0.01` (`sgd1`): 1.40 s, 7 gradient evaluations", report);
        // keep-stepping: 1.00 s against adam's 0.40 (later) and sgd's 1.40 (sooner by 29%, beyond the 20% margin).
        Assert.Contains("| keep-stepping lr=0.01 variant=seed | `ks1` | 1.00 s | 2 | later | fewer | sooner | fewer |", report);
        Assert.Contains("| keep-vaulting lr=0.01 variant=seed | `kv1` | not reached in 3 steps | not reached in 3 steps | later | more | later | more |", report);
        Assert.Contains("Of 2 K-optimizer configurations, in wall-clock time: **2 later than at least one**; in gradient evaluations: **1 fewer than both baselines, 1 more than at least one**.", report);
        Assert.Contains("This sweep has one trial per configuration (no `repeats`), so each time is a single timing: a difference counts only beyond the 20% margin.", report);

        // The leaderboard shows results.json's ranks and final losses.
        Assert.Contains("| 2 | `adam1` | adam lr=0.01 | completed | 0.1 | 6 | 0.60 | 75.0% |", report);
        Assert.Contains("| 5 | `kv1` | keep-vaulting lr=0.01 variant=seed | completed | 4 | 3 | 0.15 | 33.3% |", report);

        // A given target changes the race: at 0.1 only adam (its final loss, after 6 steps) and keep-stepping (after 3) get there.
        var strict = Report.Render(results, 0.1);
        Assert.Contains("Target loss: **0.1**, given with `--target`.", strict);
        Assert.Contains("- SGD: `sgd lr=0.01` (`sgd1`): not reached in 8 steps", strict);
        Assert.Contains("| keep-stepping lr=0.01 variant=seed | `ks1` | 1.50 s | 3 | later | fewer | sooner | fewer |", strict);
    }

    [Fact]
    public void The_summary_comes_first_and_answers_each_claim_with_a_verdict()
    {
        var report = Report.Render(Save(Fixture()), null);
        var summary = report.IndexOf("## Summary: the post's claims on this sweep", StringComparison.Ordinal);
        Assert.True(summary > 0 && summary < report.IndexOf("## Leaderboard", StringComparison.Ordinal));
        Assert.Contains("- **\"Newton's method solves linear regression in one step.\"** **Confirmed**: 1 of 1 `newton` trials on linear tasks were at their best loss after the first step "
            + "(`newton1`: 25 before, 0.25 after one step, best 0.25). Sure: these are losses, not timings", report);
        Assert.Contains("- **\"KeepStepping beats Adam in convergence speed\"** (wall-clock time to the target loss 0.5, see below). **Not confirmed**: Adam was faster: "
            + "seconds to the target: `keep-stepping lr=0.01 variant=seed` (the fastest KeepStepping configuration) 1.00 s; Adam (`adam lr=0.01`) 0.40 s; SGD (`sgd lr=0.01`) 1.40 s; "
            + "gradient evaluations: 2 against Adam's 4. How sure: one timing each, differing by more than the 20% margin", report);
        Assert.Contains("**Not confirmed**: Adam and SGD needed fewer: gradient evaluations to the target: `keep-vaulting lr=0.01 variant=seed` "
            + "(the KeepVaulting configuration with the fewest) not reached in 3 steps; Adam (`adam lr=0.01`) 4; SGD (`sgd lr=0.01`) 7.", report);
    }

    /// <summary>The fixture again, every time stretched by <paramref name="factor"/>: the same losses, timed on a busier or quieter machine.</summary>
    static ResultsDocument Retimed(ResultsDocument results, Func<string, double> factor) => results with
    {
        Trials = [.. results.Trials.Select(t => t with
        {
            WallSeconds = t.WallSeconds * factor(t.Id),
            History = [.. t.History.Select(h => h with { ElapsedSeconds = h.ElapsedSeconds * factor(h.Step.ToString(CultureInfo.InvariantCulture) + t.Id) })],
        })],
    };

    [Fact]
    public void Two_runs_whose_timings_differ_within_noise_get_the_same_verdicts()
    {
        // Six K-optimizer configurations 7% faster to 13% slower than Adam (0.50 s to reach 0.5): within the noise of one timing.
        var adam = Trial("adam1", "adam", [10, 0.5, 0.2], 0.5, 1, 3);
        var sgd = Trial("sgd1", "sgd", [10, 5, 2, 1, 0.5], 0.5, 1, 1, finalLoss: 0.5);
        var k = Enumerable.Range(0, 6).Select(i => Trial($"ks{i}", i < 4 ? "keep-stepping" : "keep-vaulting", [10, 0.5, 0.1], 0.5 * (0.93 + 0.04 * i), 1, 1) with
        {
            Config = [new("optimizer", i < 4 ? "keep-stepping" : "keep-vaulting"), new("lr", 0.01), new("max_steps", 10L + i)],
        });
        var baseRun = Results([adam, sgd, .. k]);
        // The second run: the same losses; each timing off by up to ±8%, as on a machine with other work.
        var jitter = new Random(7);
        var factors = new Dictionary<string, double>();
        var second = Retimed(baseRun, key => factors.TryGetValue(key, out var f) ? f : factors[key] = 1 + (jitter.NextDouble() - 0.5) * 0.16);
        var first = Report.Render(Save(baseRun), null);
        var again = Report.Render(Save(second), null);
        // Strictly "before Adam", as the report once counted, the two runs disagree: some configurations swap sides.
        int Before(ResultsDocument run)
        {
            var adamTime = run.Trials.Single(t => t.Id == "adam1").Reached(0.5)!.Value.Seconds;
            return run.Trials.Count(t => t.Id.StartsWith("ks", StringComparison.Ordinal) && t.Reached(0.5)!.Value.Seconds < adamTime);
        }
        Assert.NotEqual(Before(baseRun), Before(second));
        const string Verdicts = "Of 6 K-optimizer configurations, in wall-clock time: **6 within noise**";
        Assert.Contains(Verdicts, first);
        Assert.Contains(Verdicts, again);
        Assert.Contains("**Within noise**: this sweep cannot tell them apart", first);
        Assert.Contains("**Within noise**: this sweep cannot tell them apart", again);
    }

    [Fact]
    public void Repeats_are_compared_by_median_and_range()
    {
        // Three seeds of each: keep-stepping 0.5 to 0.6 s to reach 0.5, adam 1.0 to 1.2 s: apart in every pair.
        TrialEntry[] Seeds(string name, string optimizer, double[] seconds) =>
            [.. seconds.Select((s, i) => Trial($"{name}{i}", optimizer, [10, 1, 0.5, 0.2], s / 2, 1, 1, seed: i))];
        var results = Save(Results([.. Seeds("ks", "keep-stepping", [0.5, 0.6, 0.55]), .. Seeds("adam", "adam", [1.0, 1.2, 1.1]), .. Seeds("sgd", "sgd", [2.0, 2.2, 2.4])]));
        var report = Report.Render(results, 0.5);
        Assert.Contains("| keep-stepping lr=0.01 variant=seed | `ks0`, `ks1`, `ks2` | median 0.55 s (range 0.50 s to 0.60 s, 3 repeats) | 2 (all 3 repeats) | sooner | same or overlapping | sooner | same or overlapping |", report);
        Assert.Contains("**Confirmed**: seconds to the target: `keep-stepping lr=0.01 variant=seed` (the fastest KeepStepping configuration) median 0.55 s (range 0.50 s to 0.60 s, 3 repeats); "
            + "Adam (`adam lr=0.01`) median 1.10 s (range 1.00 s to 1.20 s, 3 repeats)", report);
        Assert.Contains("How sure: every one of the 3×3 pairs of repeats agrees (an ordering that chance alone gives 1 time in 20), and the medians differ by more than the 20% margin.", report);
        Assert.Contains("Repeats are the grid's `repeats`", report);
    }

    [Fact]
    public void A_cancelled_baseline_is_named_cancelled_not_never_reached()
    {
        var fixture = Fixture();
        // SGD cut off by a cancel at step 796, its loss still above the target.
        var sgd = Trial("sgd1", "sgd", [.. Enumerable.Range(0, 796).Select(k => 10 - k * 0.01)], 0.01, 1, 1, finalLoss: 2.05, status: TrialStatus.Cancelled);
        var results = Save(fixture with { Sweep = fixture.Sweep with { Status = SweepStatus.Cancelled }, Trials = [.. fixture.Trials.Select(t => t.Id == "sgd1" ? sgd : t)] });
        var report = Report.Render(results, 0.5);
        Assert.Contains("- SGD: no time to the target: `sgd1` cancelled at step 796", report);
        Assert.Contains("Not counted in the race, stopped before reaching the target: `sgd1` (sgd lr=0.01) cancelled at step 796.", report);
        Assert.DoesNotContain("never reached", report);
        Assert.Contains("| keep-stepping lr=0.01 variant=seed | `ks1` | 1.00 s | 2 | later | fewer | n/a | n/a |", report);
        Assert.Contains("in wall-clock time: **2 later than at least one**", report);
    }

    [Fact]
    public void A_trial_that_never_moved_is_explained_by_the_seed_variants_quirk()
    {
        var fixture = Fixture();
        var stuck = Trial("ks2", "keep-stepping", [10, 10.2, 10.1, 10.3], 0.5, 1, 1, finalLoss: 10.2, scale: 2);
        var report = Report.Render(Save(fixture with { Trials = [.. fixture.Trials, stuck] }), null);
        Assert.Contains("- 1 trial never fell 1% below its starting loss: `ks2` (keep-stepping lr=0.01 scale_i=2 variant=seed); why, under \"Trials that never moved\" below.", report);
        Assert.Contains("#### Trials that never moved", report);
        Assert.Contains("- `ks2` (keep-stepping lr=0.01 scale_i=2 variant=seed): its loss never went more than 1% below its starting 10 (best 10). "
            + "Why: the seed variant's sign quirk: the post's mini-step moves by lr·(scale_i·√i − 1) along the gradient, so once scale_i·√i > 1 (with scale_i = 2, from mini-step i = 1) "
            + "it climbs the gradient instead of descending", report);
        Assert.Contains("docs/optimizers.md, KeepStepping, `variant: seed`", report);
    }

    /// <summary>The post's eight trials as they overlap: two KeepStepping runs that never move (the same flat line),
    /// two that descend along the same curve, two KeepVaulting runs, SGD and Adam.</summary>
    static ResultsDocument Overlapping()
    {
        double[] Curve(double start, double rate, int steps) => [.. Enumerable.Range(0, steps).Select(k => start * Math.Exp(-rate * k) + 0.01)];
        TrialEntry K(string id, string optimizer, long maxSteps, double scale, double[] losses) =>
            Trial(id, optimizer, losses, 0.02, 1, 1, finalLoss: losses[^1]) with
            {
                Config = [new("optimizer", optimizer), new("lr", 0.001), new("max_steps", maxSteps), new("scale_i", optimizer == "keep-stepping" ? scale : null), new("variant", "seed")],
            };
        var flat = Enumerable.Repeat(3.0, 100).ToArray();
        return Results(
            K("ks50-0", "keep-stepping", 50, 0, Curve(3, 0.08, 100)),
            K("ks50-2", "keep-stepping", 50, 2, flat),
            K("ks10-0", "keep-stepping", 10, 0, Curve(3, 0.08, 100)),
            K("ks10-2", "keep-stepping", 10, 2, flat),
            K("kv10", "keep-vaulting", 10, 0, Curve(3, 0.03, 100)),
            K("kv50", "keep-vaulting", 50, 0, Curve(3, 0.031, 100)),
            Trial("sgd", "sgd", Curve(3, 0.004, 1000), 0.002, 1, 1),
            Trial("adam", "adam", Curve(3, 0.006, 1000), 0.002, 1, 3));
    }

    [Fact]
    public void Every_trial_has_a_look_of_its_own_in_a_colour_that_shows_on_white()
    {
        var styles = Enumerable.Range(0, 20).Select(i => Figures.LineStyle(i, 20)).ToList();
        Assert.Equal(20, styles.Select(s => (s.Color, s.Marker)).Distinct().Count());
        foreach (var (color, _, _, width) in styles)
        {
            // WCAG relative luminance: at least 3:1 contrast against white, so no line is pale.
            static double Linear(byte c) => c / 255.0 <= 0.03928 ? c / 255.0 / 12.92 : Math.Pow((c / 255.0 + 0.055) / 1.055, 2.4);
            var luminance = 0.2126 * Linear(color.R) + 0.7152 * Linear(color.G) + 0.0722 * Linear(color.B);
            Assert.True(1.05 / (luminance + 0.05) >= 2.9, $"{color} is too pale on white");
            Assert.True(width >= 1.5f);
        }
        // Markers of identical curves fall at different points.
        Assert.Empty(Figures.MarkerIndices(100, 0, 8).Intersect(Figures.MarkerIndices(100, 1, 8)));
    }

    [Fact]
    public void Every_trial_shows_in_the_loss_figures_even_under_an_identical_curve()
    {
        var results = Save(Overlapping());
        var directory = Path.GetDirectoryName(results.Path)!;
        Figures.Draw(results, directory);
        foreach (var name in new[] { Figures.LossVsTime, Figures.LossVsGradients })
        {
            using var image = SkiaSharp.SKBitmap.Decode(Path.Combine(directory, name + ".png"));
            // The plot area only: the legend (right) shows every colour whatever the curves do.
            var plotArea = (int)(image.Width * 0.6);
            for (var i = 0; i < results.Trials.Count; i++)
            {
                var color = Figures.LineStyle(i, results.Trials.Count).Color;
                var pixels = 0;
                for (var y = 0; y < image.Height; y++)
                    for (var x = 0; x < plotArea; x++)
                    {
                        var p = image.GetPixel(x, y);
                        if (Math.Abs(p.Red - color.R) + Math.Abs(p.Green - color.G) + Math.Abs(p.Blue - color.B) < 24) pixels++;
                    }
                Assert.True(pixels >= 50, $"{name}: trial {results.Trials[i].Id} ({color}) has {pixels} pixels of its colour in the plot area");
            }
        }
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
