using Descent.Contracts.Sweeps;
using Descent.Grains.Devices;
using Orleans.Concurrency;
using Orleans.Runtime;

namespace Descent.Grains.Sweeps;

/// <summary>The silo's door for trials: claims a free local device for each offered trial and starts its trial
/// grain here. Keyed by the silo's address and placed on that silo; an activation anywhere else (its silo is
/// gone) offers nothing.</summary>
[Orleans.Placement.PreferLocalPlacement]
public sealed class SiloWorkerGrain(DeviceInventory devices, ILocalSiloDetails silo, IGrainFactory grains) : Grain, ISiloWorkerGrain
{
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
        var placed = new List<Placement>();
        foreach (var assignment in trials)
        {
            var key = TrialGrain.Key(assignment.SweepId, assignment.TrialId);
            if (devices.TryClaim(key) is not { } slot) break;
            bool started;
            try
            {
                started = await SiloPlacement.On(silo.SiloAddress, () => grains.GetGrain<ITrialGrain>(key).Start(assignment, slot));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                started = false; // the coordinator keeps it queued and offers it again
            }
            if (started) placed.Add(new Placement(assignment.TrialId, assignment.Attempt, slot));
            else devices.Release(slot, key);
        }
        return placed;
    }
}
