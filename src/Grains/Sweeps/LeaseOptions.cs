namespace Descent.Grains.Sweeps;

/// <summary>How trials hold devices: silo settings <c>Descent:Leases:Timeout</c> and <c>Descent:Leases:RenewEvery</c>.</summary>
public sealed class LeaseOptions
{
    /// <summary>A lease not renewed for this long expires: the trial is placed again with the next attempt number. A
    /// trainer that shows no sign of life for this long (it began no phase of a step, and its thread neither used CPU
    /// nor waited for a core: <see cref="TrainerLiveness"/>) is taken for hung and is no longer renewed. Default 30 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a device worker renews its leases and reports its trials' progress (default 1 s).</summary>
    public TimeSpan RenewEvery { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How much work each device slot holds ready behind the trial it runs, in seconds of its recent trials'
    /// mean length (at most <see cref="MaxAhead"/> trials): leased and begun ahead, so that the slot trains on through
    /// a coordinator's move to another silo (the coordinator's silo died: 2-4 s with Descent's membership defaults)
    /// instead of waiting for it, and asks for its next trial off its critical path. Trials longer than this are never
    /// leased ahead. Default 5 s; 0 turns it off. (Like Celery's worker prefetch, measured in time rather than tasks.)</summary>
    public TimeSpan Ahead { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most trials a slot holds ready ahead of the one it runs.</summary>
    public const int MaxAhead = 32;

    /// <summary>The longest lease timeout accepted: a day.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    public IEnumerable<string> Problems()
    {
        if (Timeout <= TimeSpan.Zero) yield return $"Descent:Leases:Timeout = {Timeout}: must be above 0";
        else if (Timeout > MaxTimeout) yield return $"Descent:Leases:Timeout = {Timeout}: must be at most {MaxTimeout} (a lease that never expires would keep a lost trial for ever)";
        if (Ahead < TimeSpan.Zero) yield return $"Descent:Leases:Ahead = {Ahead}: must be 0 (off) or above";
        else if (Ahead > TimeSpan.FromHours(1)) yield return $"Descent:Leases:Ahead = {Ahead}: must be at most 01:00:00 (work held ahead is work other devices cannot take)";
        if (RenewEvery <= TimeSpan.Zero) yield return $"Descent:Leases:RenewEvery = {RenewEvery}: must be above 0";
        else if (Timeout > TimeSpan.Zero && RenewEvery * 3 > Timeout)
            yield return $"Descent:Leases:RenewEvery = {RenewEvery}: must be at most a third of Descent:Leases:Timeout ({Timeout}), so that one lost renewal does not expire a lease";
    }

    /// <summary>How much longer the leases checked by a lease checker that ran late must be given: when
    /// <paramref name="sinceLastCheck"/> is over twice <paramref name="checkEvery"/>, the checker's process was paused or
    /// starved of cores, and the renewals sent meanwhile still wait in its queue, so the time it was away
    /// (<paramref name="sinceLastCheck"/> less one period) does not count against them; otherwise zero.</summary>
    public static TimeSpan Grace(TimeSpan sinceLastCheck, TimeSpan checkEvery) =>
        sinceLastCheck > 2 * checkEvery ? sinceLastCheck - checkEvery : TimeSpan.Zero;
}
