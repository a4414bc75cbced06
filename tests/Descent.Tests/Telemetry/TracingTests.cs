using System.Text.Json;
using Descent.Tests.Client;
using static Descent.Tests.Client.GridFiles;

namespace Descent.Tests.Telemetry;

/// <summary>The real OTLP exporter of descent-client and descent-silo, against a real OTLP/HTTP receiver.</summary>
[Collection(nameof(ClientProcessTests))]
public class TracingTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    const string Grid = """
        {"name": "traced", "task": {"kind": "synthetic", "n_row": 200, "dim_in": 4, "dim_hidden": 4, "n_layers": 1, "seed": 1},
         "budget": {"steps": 30},
         "parameters": {"optimizer": ["sgd", "keep-stepping"], "lr": 0.01, "max_steps": 5}}
        """;

    static async Task<IReadOnlyList<ReceivedSpan>> WaitForSpans(OtlpReceiver receiver, Func<IReadOnlyList<ReceivedSpan>, bool> complete)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!complete(receiver.Spans))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"spans incomplete after 60 s: {string.Join(", ", receiver.Spans.GroupBy(s => $"{s.Service}/{s.Name}").Select(g => $"{g.Key} x{g.Count()}"))}");
            await Task.Delay(200);
        }
        return receiver.Spans;
    }

    static Dictionary<string, JsonElement> TrialsById(string runs)
    {
        var sweep = Assert.Single(Directory.GetDirectories(runs));
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(sweep, "results.json"))).RootElement;
        return results.GetProperty("trials").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
    }

    /// <summary>The structure every export must have: one sweep span, parent of one trial span per trial, each with
    /// the trial's exact totals, and step spans with forward, backward and optimizer children.</summary>
    static void AssertTree(IReadOnlyList<ReceivedSpan> spans, Dictionary<string, JsonElement> trials, int[] tracedSteps)
    {
        var sweep = Assert.Single(spans, s => s.Name == "sweep");
        Assert.Equal("descent-client", sweep.Service);
        Assert.Equal("Descent.Client", sweep.Scope);
        Assert.Equal(trials.Count, Convert.ToInt32(sweep.Attributes["descent.sweep.trials"], System.Globalization.CultureInfo.InvariantCulture));

        var trialSpans = spans.Where(s => s.Name == "trial").ToList();
        Assert.Equal(trials.Keys.Order(), trialSpans.Select(s => (string)s.Attributes["descent.trial.id"]).Order());
        foreach (var trial in trialSpans)
        {
            Assert.Equal("descent-silo", trial.Service);
            Assert.Equal(sweep.TraceId, trial.TraceId);
            Assert.Equal(sweep.SpanId, trial.ParentSpanId);
            var result = trials[(string)trial.Attributes["descent.trial.id"]];
            Assert.Equal("completed", trial.Attributes["descent.status"]);
            foreach (var key in new[] { "forward_seconds", "backward_seconds", "backward_share", "final_loss" })
                Assert.Equal(result.GetProperty(key).GetDouble(), trial.Number("descent." + key), 12);
            Assert.Equal(result.GetProperty("gradient_evaluations").GetInt64(), (long)trial.Attributes["descent.gradient_evaluations"]);

            var steps = spans.Where(s => s.Name == "step" && s.ParentSpanId == trial.SpanId).ToList();
            Assert.Equal(tracedSteps, steps.Select(s => (int)(long)s.Attributes["descent.step"]).Order());
            foreach (var step in steps)
            {
                var children = spans.Where(s => s.ParentSpanId == step.SpanId).Select(s => s.Name).ToList();
                Assert.Equal(["backward", "forward", "optimizer"], children.Order());
                Assert.All(spans.Where(s => s.ParentSpanId == step.SpanId), s => Assert.Equal(trial.TraceId, s.TraceId));
            }
            if ((string)trial.Attributes["descent.optimizer"] == "keep-stepping")
            {
                var optimizerSpans = spans.Where(s => s.Name == "optimizer" && steps.Any(st => st.SpanId == s.ParentSpanId)).Select(s => s.SpanId).ToHashSet();
                Assert.Contains(spans, s => s.Name == "probe" && optimizerSpans.Contains(s.ParentSpanId));
            }
        }
    }

    [Fact]
    public async Task The_embedded_mode_exports_the_sweep_span_as_parent_of_every_trial_span_and_flushes_before_exit()
    {
        using var receiver = new OtlpReceiver();
        var folder = Folder();
        // The embedded silo reads descent-silo's settings from DESCENT__* variables.
        var environment = new Dictionary<string, string>(receiver.Environment) { ["DESCENT__TRACING__FIRSTSTEPS"] = "3", ["DESCENT__TRACING__EVERYSTEP"] = "10" };
        using var client = RunningProcess.Launch("descent-client.dll", folder, environment, "sweep", Write(Grid, folder), "--out", "runs");
        var exit = await client.Exit(Timeout);
        Assert.True(exit == 0, $"exit {exit}\n{client.Out}\n{client.Err}");
        // Everything arrived by the time the process exited: no waiting here.
        var spans = receiver.Spans;
        // 30 steps, the first 3 and then every 10th.
        AssertTree(spans, TrialsById(Path.Combine(folder, "runs")), [1, 2, 3, 10, 20, 30]);
        Assert.Contains(receiver.Metrics, m => m == ("descent-silo", "descent.trials.completed"));
        Assert.Contains(receiver.Metrics, m => m == ("descent-silo", "descent.trial.duration"));
        Assert.Contains(receiver.Metrics, m => m.Service == "descent-silo" && m.Metric.StartsWith("orleans", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", client.Err);
    }

    [Fact]
    public async Task Across_processes_trial_spans_on_the_silo_are_children_of_the_clients_sweep_span()
    {
        using var receiver = new OtlpReceiver();
        var folder = Folder();
        var gateway = RunningProcess.FreePort();
        var siloEnvironment = new Dictionary<string, string>(receiver.Environment)
        {
            ["Descent__Tracing__FirstSteps"] = "2",
            ["Descent__Tracing__EveryStep"] = "10",
        };
        using var silo = RunningProcess.Launch("descent-silo.dll", folder, siloEnvironment, "--Descent:SiloPort=" + RunningProcess.FreePort(),
            "--Descent:GatewayPort=" + gateway, "--Descent:Devices:CpuSlots=1", "--Descent:ClusterId=traced");
        await silo.WaitFor(o => o.Contains("Application started"), Timeout, onStdout: true);

        using var client = RunningProcess.Launch("descent-client.dll", folder, receiver.Environment,
            "sweep", Write(Grid, folder), "--out", "runs", "--cluster", $"127.0.0.1:{gateway}", "--cluster-id", "traced");
        var exit = await client.Exit(Timeout);
        Assert.True(exit == 0, $"exit {exit}\n{client.Out}\n{client.Err}");

        var trials = TrialsById(Path.Combine(folder, "runs"));
        // The silo exports in batches every 500 ms; the trial spans ended before the sweep did.
        var spans = await WaitForSpans(receiver, s => s.Count(x => x.Name == "trial") == trials.Count
            && s.Count(x => x.Name == "step") == trials.Count * 5 && s.Count(x => x.Name == "optimizer") == trials.Count * 5);
        // Descent:Tracing:FirstSteps = 2, EveryStep = 10: steps 1, 2, 10, 20, 30.
        AssertTree(spans, trials, [1, 2, 10, 20, 30]);
        // Orleans' own spans of the client's calls travel with the same trace.
        var sweep = spans.Single(s => s.Name == "sweep");
        Assert.Contains(spans, s => s.Service == "descent-silo" && s.Scope.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) && s.TraceId == sweep.TraceId);
    }
}
