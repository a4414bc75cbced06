using Descent.Contracts.Sweeps;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;

namespace Descent.Grains.Sweeps;

[GenerateSerializer, Alias("descent.sweep-directory-state")]
public sealed class SweepDirectoryState
{
    [Id(0)] public List<string> Active { get; set; } = [];
}

/// <summary>
/// The cluster's list of sweeps that may have queued trials (persistent: it survives its silo), watched by every
/// silo's device worker through a long poll, so a new sweep reaches idle devices at once. Also counts the device
/// slots of the silos whose workers watch it. When its silo begins to stop, the watches it holds return at once: a
/// silo's deactivation waits for the requests it is serving, and a long poll would hold its graceful stop for the whole
/// wait.
/// </summary>
public sealed class SweepDirectoryGrain(
    [PersistentState("directory", SweepStorage.Name)] IPersistentState<SweepDirectoryState> state,
    IClusterMembershipService membership,
    IHostApplicationLifetime host) : Grain, ISweepDirectoryGrain
{
    // A new activation starts at a version no worker knows, so every watcher gets the list at once.
    int _version = Random.Shared.Next();
    TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Dictionary<string, int> _devices = [];

    public async Task Add(string sweepId)
    {
        if (state.State.Active.Contains(sweepId)) return;
        state.State.Active.Add(sweepId);
        await state.WriteStateAsync();
        Changed();
    }

    public async Task Remove(string sweepId)
    {
        if (!state.State.Active.Remove(sweepId)) return;
        await state.WriteStateAsync();
        Changed();
    }

    public async Task<SweepList> Watch(int knownVersion, string silo, int devices, TimeSpan wait)
    {
        _devices[silo] = devices;
        if (knownVersion == _version && !host.ApplicationStopping.IsCancellationRequested)
        {
            var changed = _changed.Task;
            var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (host.ApplicationStopping.Register(() => stopping.TrySetResult()))
                await Task.WhenAny(changed, stopping.Task, Task.Delay(wait));
        }
        // Its silo stops: the next watch finds it on another silo (the watcher waits a moment before asking again).
        if (host.ApplicationStopping.IsCancellationRequested) DeactivateOnIdle();
        return new SweepList(_version, [.. state.State.Active]);
    }

    public Task Leave(string silo)
    {
        _devices.Remove(silo);
        Wake();
        return Task.CompletedTask;
    }

    public Task<int> ClusterDevices()
    {
        var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress.ToParsableString()).ToHashSet();
        return Task.FromResult(_devices.Where(d => active.Contains(d.Key)).Sum(d => d.Value));
    }

    void Changed()
    {
        _version++;
        Wake();
    }

    void Wake()
    {
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.SetResult();
    }
}
