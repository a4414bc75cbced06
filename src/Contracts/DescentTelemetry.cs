using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Descent.Contracts;

/// <summary>
/// Descent's OpenTelemetry names. Two activity sources, so that one process (the client's embedded mode) can
/// export the client's spans as service <c>descent-client</c> and the silo's as <c>descent-silo</c>:
/// <list type="bullet">
/// <item><see cref="ClientSource"/>: the <c>sweep</c> span, around submitting and following a sweep;</item>
/// <item><see cref="SiloSource"/>: a <c>trial</c> span per trial (child of the sweep span, on whichever silo runs it),
/// and under it sampled <c>step</c> spans with <c>forward</c>, <c>backward</c> and <c>optimizer</c> (with its
/// <c>probe</c>s) children.</item>
/// </list>
/// </summary>
public static class DescentTelemetry
{
    public const string ClientSource = "Descent.Client";
    public const string SiloSource = "Descent.Silo";
    public const string MeterName = "Descent";

    /// <summary>Orleans' own activity sources and meter, exported next to Descent's.</summary>
    public static readonly string[] OrleansSources =
        ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "Microsoft.Orleans.Storage", "Microsoft.Orleans.Lifecycle"];
    public const string OrleansMeter = "Microsoft.Orleans";

    public static readonly ActivitySource Client = new(ClientSource);
    public static readonly ActivitySource Silo = new(SiloSource);
    public static readonly Meter Meter = new(MeterName);

    /// <summary>The W3C trace context of <paramref name="activity"/> (<c>00-trace-span-flags</c>), to parent spans
    /// that start later and elsewhere (trials placed long after the sweep was submitted).</summary>
    public static string? TraceParent(Activity? activity) =>
        activity is { IdFormat: ActivityIdFormat.W3C } ? activity.Id : null;

    /// <summary>Parses what <see cref="TraceParent"/> gave; default when there is none.</summary>
    public static ActivityContext ParentContext(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, out var context) ? context : default;
}
