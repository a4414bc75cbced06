namespace Descent.Grains.Sweeps;

/// <summary>The grain storage provider sweeps persist into; the silo host decides what backs it.</summary>
public static class SweepStorage
{
    public const string Name = "descent";
}

/// <summary>What backs <see cref="SweepStorage.Name"/> on this silo, for the messages of a sweep the storage does not
/// hold: the provider's name (<c>Descent:Storage</c>) and where it keeps its data.</summary>
/// <param name="Provider">memory, process, redis or local.</param>
/// <param name="Where">The Redis address (never a password) or the folder; empty for the in-memory providers.</param>
public sealed record SweepStorageInfo(string Provider, string Where)
{
    /// <summary>Why a sweep this storage should hold is not there, in the words of its provider.</summary>
    public string NothingOf(string sweepId) => Provider switch
    {
        "redis" => $"the cluster's Redis at {Where} holds nothing of sweep {sweepId} (Descent:Storage = redis): a Redis restarted without its data (no persistence, or a new volume) loses every sweep; run it with appendonly yes on a volume that stays",
        "local" => $"the store in {Where} holds nothing of sweep {sweepId} (Descent:Storage = local)",
        "memory" => $"sweep {sweepId} was lost with the silo holding it (Descent:Storage = memory: Orleans' in-memory storage does not survive a silo; use redis)",
        "process" => $"sweep {sweepId} was lost with the process holding it (Descent:Storage = process)",
        _ => $"the cluster's grain storage ({Provider}) holds nothing of sweep {sweepId}",
    };
}
