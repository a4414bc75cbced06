using Orleans.Configuration;

namespace Descent.Silo;

/// <summary>
/// Section <c>Descent:Membership</c>: how quickly the cluster declares a silo dead, so that its trials are placed
/// again. A silo is probed every <see cref="ProbeTimeout"/>; after <see cref="NumMissedProbesLimit"/> missed probes a
/// prober votes it dead, and <see cref="NumVotesForDeathDeclaration"/> votes declare it dead. Orleans' defaults (5 s,
/// 20 s, 3, 2) took 10.6-14.8 s to declare a
/// SIGKILLed silo dead and over a minute for a lost link on this project's machines; Descent's defaults aim at a few
/// seconds while leaving a silo whose every core is training well inside its probe time (its probes are answered
/// by Orleans' own threads, not the training threads). The values are copied onto Orleans'
/// <see cref="ClusterMembershipOptions"/>; any other property of it may be set in the same section.
/// </summary>
public sealed class MembershipSettings
{
    const string Section = $"{DescentSiloOptions.Section}:{nameof(DescentSiloOptions.Membership)}";

    /// <summary>Time a probe may take before it counts as missed (default 2 s; Orleans' 5 s).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest a probe's effective timeout grows to (Orleans adjusts it to observed response times).
    /// Times <see cref="NumMissedProbesLimit"/>, it is also how long recent traffic on a connection suppresses votes
    /// against its silo, so about how long a lost network link goes unnoticed (default: twice
    /// <see cref="ProbeTimeout"/>, 4 s; Orleans' is four times, 20 s).</summary>
    public TimeSpan? MaxProbeTimeout { get; set; }

    TimeSpan EffectiveMaxProbeTimeout => MaxProbeTimeout ?? 2 * ProbeTimeout;

    /// <summary>Missed probes in a row before a silo votes another dead (default 3).</summary>
    public int NumMissedProbesLimit { get; set; } = 3;

    /// <summary>Votes that declare a silo dead (default 2; fewer when fewer silos are left to vote).</summary>
    public int NumVotesForDeathDeclaration { get; set; } = 2;

    /// <summary>How often a silo writes "I am alive" into the membership table (default 3 s; Orleans' 30 s). A row
    /// not written for twice this long is stale: a silo joining a cluster whose silos crashed (their rows still say
    /// active) stops waiting for them after that. Measured with new silos on new addresses over the rows of three
    /// SIGKILLed ones: 91 s to start with Orleans' 30 s, 20 s with 5 s (process start included).</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How often a silo reads the whole membership table (default 10 s; Orleans' 60 s). A silo declared dead
    /// while it was frozen or cut off learns it at the latest then, and stops (Orleans ends its process), instead of
    /// training for up to a minute on trials that were placed elsewhere.</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a silo with shared clustering (Redis) runs on while the membership table, read, does not have
    /// it as an active member (its row lost: a Redis restarted without its data) before it exits with code 1, so that
    /// its supervisor starts it again and it rejoins (default 30 s). Readiness fails from the first read that misses
    /// the row or cannot read the table; a table that cannot be read (Redis stalled or down, its data kept) never makes
    /// a silo exit. Descent's own: not copied onto Orleans' options.</summary>
    public TimeSpan LostAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Each setting that cannot work, naming its key and value.</summary>
    public IEnumerable<string> Problems()
    {
        if (ProbeTimeout <= TimeSpan.Zero || ProbeTimeout > TimeSpan.FromMinutes(5))
            yield return $"{Section}:{nameof(ProbeTimeout)} = {ProbeTimeout}: expected more than 0 and at most 00:05:00";
        if (MaxProbeTimeout is { } max && (max < ProbeTimeout || max > TimeSpan.FromMinutes(10)))
            yield return $"{Section}:{nameof(MaxProbeTimeout)} = {MaxProbeTimeout}: expected at least ProbeTimeout ({ProbeTimeout}) and at most 00:10:00";
        if (IAmAliveTablePublishTimeout < TimeSpan.FromMilliseconds(500) || IAmAliveTablePublishTimeout > TimeSpan.FromMinutes(10))
            yield return $"{Section}:{nameof(IAmAliveTablePublishTimeout)} = {IAmAliveTablePublishTimeout}: expected between 00:00:00.5 and 00:10:00";
        if (TableRefreshTimeout < TimeSpan.FromSeconds(1) || TableRefreshTimeout > TimeSpan.FromMinutes(10))
            yield return $"{Section}:{nameof(TableRefreshTimeout)} = {TableRefreshTimeout}: expected between 00:00:01 and 00:10:00";
        if (LostAfter < TimeSpan.FromSeconds(1) || LostAfter > TimeSpan.FromHours(1))
            yield return $"{Section}:{nameof(LostAfter)} = {LostAfter}: expected between 00:00:01 and 01:00:00";
        if (NumMissedProbesLimit < 1)
            yield return $"{Section}:{nameof(NumMissedProbesLimit)} = {NumMissedProbesLimit}: must be at least 1";
        if (NumVotesForDeathDeclaration < 1)
            yield return $"{Section}:{nameof(NumVotesForDeathDeclaration)} = {NumVotesForDeathDeclaration}: must be at least 1";
    }

    /// <summary>Copies these settings onto Orleans' options.</summary>
    public void ApplyTo(ClusterMembershipOptions options)
    {
        options.ProbeTimeout = ProbeTimeout;
        options.MaxProbeTimeout = EffectiveMaxProbeTimeout;
        options.NumMissedProbesLimit = NumMissedProbesLimit;
        options.NumVotesForDeathDeclaration = NumVotesForDeathDeclaration;
        options.IAmAliveTablePublishTimeout = IAmAliveTablePublishTimeout;
        options.TableRefreshTimeout = TableRefreshTimeout;
    }
}
