using System.Diagnostics;
using Descent.Contracts;
using Descent.Contracts.Trials;
using Descent.Grains.Training.Optimizers;
using Descent.Grains.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Descent.Grains.Training;

/// <summary>
/// Runs one trial synchronously on the calling thread: builds the task, then repeats forward (with a graph),
/// backward, optimizer step until the budget ends, timing each phase separately. Never throws: a trial that
/// cannot run is <see cref="TrialStatus.Failed"/>, one whose loss stops being finite is
/// <see cref="TrialStatus.Diverged"/>.
/// </summary>
public static class Trainer
{
    /// <param name="device">"cpu" or "cuda:N".</param>
    /// <param name="onStep">Called after every outer step, on this thread.</param>
    /// <param name="heartbeat">Called on this thread whenever the trial enters a phase (setup, forward, backward, optimizer
    /// step, final loss): a sign of life for whoever watches for hung trainers.</param>
    /// <param name="cancellation">Stops the trial before its next step (<see cref="TrialStatus.Cancelled"/>); so does
    /// the process exiting (<see cref="RunningTrainers"/>).</param>
    public static TrialResult Run(TrialSpec spec, string device = "cpu", Action<StepRecord>? onStep = null, CancellationToken cancellation = default,
        StepTracing? tracing = null, Action? heartbeat = null)
    {
        using var beating = TrialHeartbeat.Use(heartbeat);
        heartbeat?.Invoke();
        var run = new TrialRun(onStep, tracing ?? StepTracing.Default, heartbeat);
        // Until this returns, the process does not run libtorch's exit-time destructors under this thread.
        using var running = RunningTrainers.Enter(cancellation, out var stop);
        if (running is null) return run.NotStarted("the process is exiting");
        try
        {
            spec.Validate();
            var target = Devices.Parse(device);
            // Refused before allocating, in the user's words, when the silo cannot hold it.
            TrialMemory.Check(TrialMemory.Of(spec));
            using var problem = Problem.Create(spec.Task, spec.Seed, target);
            TrialMemory.Check(TrialMemory.Training(spec, problem.Inputs.shape, problem.Parameters.Select(p => p.shape)));
            using var optimizer = TrialOptimizers.Create(spec.Optimizer, problem);
            return run.Train(problem, optimizer, target, spec.Budget, stop);
        }
        catch (Exception e)
        {
            return run.Failed(e);
        }
        finally
        {
            NativeHeap.ReturnFreeMemory();
        }
    }

    /// <summary>The clocks and counters of one trial.</summary>
    sealed class TrialRun(Action<StepRecord>? onStep, StepTracing tracing, Action? heartbeat)
    {
        bool _traced; // this step has spans: its probes get theirs
        Phase _phase; // where a failure happened, for its message

        void Enter(Phase phase)
        {
            _phase = phase;
            heartbeat?.Invoke();
        }
        int _step;
        readonly long _start = Stopwatch.GetTimestamp();
        readonly List<StepRecord> _history = [];
        long _forwardTicks, _backwardTicks, _optimizerTicks, _forwardPasses, _gradientEvaluations;
        Problem? _problem;
        ITrialOptimizer? _optimizer;

        public TrialResult Train(Problem problem, ITrialOptimizer optimizer, Device device, Budget budget, CancellationToken cancellation)
        {
            _problem = problem;
            _optimizer = optimizer;
            // Caught here rather than in Run so that the optimizer, still undisposed, can add its note.
            try
            {
                return Steps(problem, optimizer, device, budget, cancellation);
            }
            catch (DivergedException e)
            {
                return Result(TrialStatus.Diverged, $"{e.Message} in step {_history.Count + 1}", float.NaN);
            }
        }

        TrialResult Steps(Problem problem, ITrialOptimizer optimizer, Device device, Budget budget, CancellationToken cancellation)
        {
            float? known = null; // the loss at the current parameters, when a step measured it
            for (var step = 1; step <= budget.Steps; step++)
            {
                _step = step;
                if (cancellation.IsCancellationRequested)
                    return Finish(TrialStatus.Cancelled, $"cancelled before step {step}", known);
                if (budget.Seconds is { } seconds && Elapsed(_start) >= seconds)
                    return Finish(TrialStatus.Completed, $"time budget of {seconds:g} s reached", known);
                if (known is { } k && Ends(k, budget, step) is { } ended)
                    return ended;

                using var scope = NewDisposeScope();
                // Spans (when something listens and the step is sampled): step > forward, backward, optimizer > probe.
                using var stepSpan = tracing.Traces(step) ? DescentTelemetry.Silo.StartActivity("step") : null;
                _traced = stepSpan is not null;
                stepSpan?.SetTag("descent.step", step);
                Tensor loss;
                float value;
                using (Span("forward"))
                {
                    Enter(Phase.Forward);
                    var t0 = Stopwatch.GetTimestamp();
                    loss = problem.Loss();
                    value = loss.item<float>(); // copies to the host: the device has finished the forward pass
                    _forwardTicks += Stopwatch.GetTimestamp() - t0;
                    _forwardPasses++;
                }
                stepSpan?.SetTag("descent.loss", value);
                if (Ends(value, budget, step) is { } end)
                    return end;

                using (Span("backward"))
                {
                    Enter(Phase.Backward);
                    var t0 = Stopwatch.GetTimestamp();
                    optimizer.Backward(loss);
                    Devices.Synchronize(device);
                    _backwardTicks += Stopwatch.GetTimestamp() - t0;
                    _gradientEvaluations++;
                }

                // A step that throws (Newton's diverged solve) still ends its spans: each phase is a using block.
                using (Span("optimizer"))
                {
                    Enter(Phase.Step);
                    var probeTicksBefore = _forwardTicks;
                    var t0 = Stopwatch.GetTimestamp();
                    known = optimizer.Step(value, Probe);
                    Devices.Synchronize(device);
                    _optimizerTicks += Stopwatch.GetTimestamp() - t0 - (_forwardTicks - probeTicksBefore);
                }
                _traced = false;

                var record = new StepRecord(step, value, Elapsed(_start), _forwardPasses, _gradientEvaluations);
                _history.Add(record);
                onStep?.Invoke(record);
            }
            return Finish(TrialStatus.Completed, null, known);
        }

        /// <summary>The trial's end if <paramref name="loss"/>, the loss at the start of <paramref name="step"/>, ends it.</summary>
        TrialResult? Ends(float loss, Budget budget, int step)
        {
            if (!float.IsFinite(loss))
                return Result(TrialStatus.Diverged, $"the loss became {loss} before step {step}", loss);
            if (budget.TargetLoss is { } target && loss <= target)
                return Result(TrialStatus.Completed, $"target loss {target:g} reached before step {step}", loss);
            return null;
        }

        /// <summary>A loss-only forward pass, counted and timed as forward.</summary>
        Activity? Span(string name) => _traced ? DescentTelemetry.Silo.StartActivity(name) : null;

        float Probe()
        {
            using var span = Span("probe");
            var t0 = Stopwatch.GetTimestamp();
            float value;
            using (no_grad())
            using (NewDisposeScope())
                value = _problem!.Loss().item<float>();
            _forwardTicks += Stopwatch.GetTimestamp() - t0;
            _forwardPasses++;
            return value;
        }

        TrialResult Finish(TrialStatus status, string? message, float? known)
        {
            Enter(Phase.Final);
            var final = known ?? Probe();
            return float.IsFinite(final)
                ? Result(status, message, final)
                : Result(TrialStatus.Diverged, $"the loss became {final} after step {_history.Count}", final);
        }

        public TrialResult NotStarted(string reason) => Result(TrialStatus.Cancelled, $"cancelled before step 1: {reason}", float.NaN);

        public TrialResult Failed(Exception e) => Result(TrialStatus.Failed, TrialFailures.Describe(e, During), float.NaN);

        string During => _phase switch
        {
            Phase.Forward => $"the forward pass of step {_step}",
            Phase.Backward => $"the backward pass of step {_step}",
            Phase.Step => $"the optimizer's step {_step}",
            Phase.Final => "the forward pass measuring the final loss",
            _ => "building the task",
        };

        TrialResult Result(TrialStatus status, string? message, float final)
        {
            // The optimizer's note (Newton's rank-deficient Hessians) matters for completed trials too.
            if (_optimizer?.Note is { } note) message = message is null ? note : $"{message}; {note}";
            var best = _history.Select(h => h.Loss).Where(double.IsFinite).Append(final).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Min();
            return new TrialResult(status, message, final, best, _forwardPasses, _gradientEvaluations,
                Seconds(_forwardTicks), Seconds(_backwardTicks), Seconds(_optimizerTicks), Elapsed(_start), _history);
        }

        static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
        static double Elapsed(long since) => Seconds(Stopwatch.GetTimestamp() - since);
    }
}

enum Phase { Setup, Forward, Backward, Step, Final }

/// <summary>Which outer steps of a trial get spans (a 1000-step trial must not drown the trace): the first
/// <see cref="FirstSteps"/>, then every <see cref="Every"/>-th (0: none after the first). The trial span always
/// carries the exact totals. Silo settings <c>Descent:Tracing:FirstSteps</c> and <c>Descent:Tracing:EveryStep</c>.</summary>
public sealed record StepTracing(int FirstSteps = 10, int Every = 100)
{
    public static readonly StepTracing Default = new();

    public bool Traces(int step) => step <= FirstSteps || (Every > 0 && step % Every == 0);
}
