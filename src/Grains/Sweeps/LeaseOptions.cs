namespace Descent.Grains.Sweeps;

/// <summary>How trials hold devices: silo settings <c>Descent:Leases:Timeout</c> and <c>Descent:Leases:RenewEvery</c>.</summary>
public sealed class LeaseOptions
{
    /// <summary>A lease not renewed for this long expires: the trial is placed again with the next attempt number. A
    /// trainer that shows no sign of life (no phase of a step begun or ended) for this long is taken for hung and is
    /// no longer renewed. Default 30 s; longer than any single forward or backward pass of the sweep's models.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a device worker renews its leases and reports its trials' progress (default 1 s).</summary>
    public TimeSpan RenewEvery { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest lease timeout accepted: a day.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    public IEnumerable<string> Problems()
    {
        if (Timeout <= TimeSpan.Zero) yield return $"Descent:Leases:Timeout = {Timeout}: must be above 0";
        else if (Timeout > MaxTimeout) yield return $"Descent:Leases:Timeout = {Timeout}: must be at most {MaxTimeout} (a lease that never expires would keep a lost trial for ever)";
        if (RenewEvery <= TimeSpan.Zero) yield return $"Descent:Leases:RenewEvery = {RenewEvery}: must be above 0";
        else if (Timeout > TimeSpan.Zero && RenewEvery * 3 > Timeout)
            yield return $"Descent:Leases:RenewEvery = {RenewEvery}: must be at most a third of Descent:Leases:Timeout ({Timeout}), so that one lost renewal does not expire a lease";
    }
}
