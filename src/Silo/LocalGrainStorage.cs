using Orleans.Runtime;
using Orleans.Storage;

namespace Descent.Silo;

/// <summary>
/// Grain storage in a folder of this machine (<c>Descent:Storage = local</c>, <c>Descent:StoragePath</c>): a
/// <see cref="GrainStateDatabase"/> (SQLite), opened when the silo starts and closed when it stops, so that the states
/// survive the process (SIGKILL, power loss). For one-process clusters such as the client's embedded silo, which keeps each sweep's
/// store beside its results; one process at a time may open a folder. States are serialized by the silo's
/// <see cref="IGrainStorageSerializer"/>; a write whose ETag is not the stored one throws
/// <see cref="InconsistentStateException"/>, as Orleans' own providers do.
/// </summary>
public sealed class LocalGrainStorage(string folder, IGrainStorageSerializer serializer) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    GrainStateDatabase? _store;

    /// <summary>Completes with the write that failed (see <see cref="GrainStateDatabase.Failure"/>) when the store stops
    /// taking writes; never while it writes. How the embedded silo's client learns at once that its sweep cannot go on.</summary>
    public Task<WriteFailedException> Failed => _opened.Task.ContinueWith(t => t.Result.Failed, TaskScheduler.Default).Unwrap();

    readonly TaskCompletionSource<GrainStateDatabase> _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);

    GrainStateDatabase Store => _store ?? throw new InvalidOperationException($"the grain store in {folder} is not open (the silo has not started, or has stopped)");

    public void Participate(ISiloLifecycle lifecycle) =>
        // Before any grain activates; closed after they have all been deactivated.
        lifecycle.Subscribe(nameof(LocalGrainStorage), ServiceLifecycleStage.RuntimeStorageServices, Open, Close);

    Task Open(CancellationToken cancellation)
    {
        _store = GrainStateDatabase.Open(folder);
        _opened.TrySetResult(_store);
        return Task.CompletedTask;
    }

    Task Close(CancellationToken cancellation)
    {
        _store?.Dispose();
        return Task.CompletedTask;
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (Store.TryRead(stateName, grainId.ToString(), out var etag, out var data))
        {
            grainState.State = serializer.Deserialize<T>(new BinaryData(data));
            (grainState.ETag, grainState.RecordExists) = (etag, true);
        }
        else (grainState.ETag, grainState.RecordExists) = (null, false);
        return Task.CompletedTask;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var data = serializer.Serialize(grainState.State).ToMemory();
        grainState.ETag = await Store.WriteAsync(stateName, grainId.ToString(), grainState.ETag, data);
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await Store.ClearAsync(stateName, grainId.ToString(), grainState.ETag);
        (grainState.ETag, grainState.RecordExists) = (null, false);
    }
}
