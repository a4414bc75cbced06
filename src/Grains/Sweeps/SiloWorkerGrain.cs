using Descent.Contracts.Sweeps;
using Descent.Grains.Devices;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Descent.Grains.Sweeps;

/// <summary>
/// The silo's door for trials: claims a free local device for each offered trial and starts its trial grain
/// here; keeps up to one more trial per device in line and starts it the moment a device is freed, so that
/// devices do not idle through a round trip to the coordinator. Keyed by the silo's address and placed on that
/// silo; an activation anywhere else (its silo is gone) takes nothing.
/// </summary>
[Orleans.Placement.PreferLocalPlacement]
public sealed class SiloWorkerGrain(DeviceInventory devices, ILocalSiloDetails silo, IGrainFactory grains, ILogger<SiloWorkerGrain> log)
    : Grain, ISiloWorkerGrain
{
    readonly Queue<TrialAssignment> _line = new();

    bool OnItsSilo => this.GetPrimaryKeyString() == silo.SiloAddress.Key();

    public Task<IReadOnlyList<DeviceSlot>> GetDevices()
    {
        if (!OnItsSilo)
        {
            DeactivateOnIdle();
            return Task.FromResult<IReadOnlyList<DeviceSlot>>([]);
        }
        return Task.FromResult(devices.Slots);
    }

    public async Task<IReadOnlyList<Placement>> Offer(IReadOnlyList<TrialAssignment> trials)
    {
        if (!OnItsSilo)
        {
            DeactivateOnIdle();
            return [];
        }
        var taken = new List<Placement>();
        foreach (var assignment in trials)
        {
            if (_line.Count == 0 && await TryStart(assignment) is { } slot)
            {
                taken.Add(new Placement(assignment.TrialId, assignment.Attempt, slot));
            }
            else if (_line.Count < devices.Slots.Count)
            {
                _line.Enqueue(assignment);
                taken.Add(new Placement(assignment.TrialId, assignment.Attempt, null));
            }
            else break;
        }
        KeepAliveWhileQueued();
        return taken;
    }

    public async Task DeviceFreed()
    {
        while (_line.Count > 0 && devices.Free > 0)
        {
            var next = _line.Dequeue();
            var coordinator = grains.GetGrain<ISweepCoordinatorGrain>(next.SweepId);
            // Not awaited: the coordinator may be waiting on this worker's Offer right now.
            if (await TryStart(next) is { } slot) Forget(coordinator.TrialStarted(next.TrialId, next.Attempt, slot));
            else Forget(coordinator.TrialHandedBack(next.TrialId, next.Attempt, $"could not start on silo {silo.SiloAddress.Key()}", siloLost: false));
        }
        KeepAliveWhileQueued();
    }

    public Task Withdraw(string sweepId)
    {
        var keep = _line.Where(a => a.SweepId != sweepId).ToList();
        _line.Clear();
        foreach (var a in keep) _line.Enqueue(a);
        KeepAliveWhileQueued();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Silo shutting down with trials in line: hand them back (the coordinator also notices the silo leave).
        foreach (var a in _line)
            Forget(grains.GetGrain<ISweepCoordinatorGrain>(a.SweepId).TrialHandedBack(a.TrialId, a.Attempt, $"silo {silo.SiloAddress.Key()} shut down", siloLost: true));
        _line.Clear();
        return Task.CompletedTask;
    }

    /// <summary>Claims a free device and starts the trial on it; null when no device is free or the start failed.</summary>
    async Task<DeviceSlot?> TryStart(TrialAssignment assignment)
    {
        var key = TrialGrain.Key(assignment.SweepId, assignment.TrialId);
        if (devices.TryClaim(key) is not { } slot) return null;
        bool started;
        try
        {
            started = await SiloPlacement.On(silo.SiloAddress, () => grains.GetGrain<ITrialGrain>(key).Start(assignment, slot));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "Starting trial {Trial} failed", key);
            started = false;
        }
        if (started) return slot;
        devices.Release(slot, key);
        return null;
    }

    // A trial in line lives only here: this activation must not be collected while it holds one.
    void KeepAliveWhileQueued() => DelayDeactivation(_line.Count > 0 ? TimeSpan.FromDays(7) : TimeSpan.Zero);

    void Forget(Task call) =>
        call.ContinueWith(t => log.LogWarning(t.Exception, "A report to a coordinator failed"), TaskContinuationOptions.OnlyOnFaulted);
}
