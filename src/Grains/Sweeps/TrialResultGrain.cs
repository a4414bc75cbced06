using Descent.Contracts.Sweeps;

namespace Descent.Grains.Sweeps;

[GenerateSerializer, Alias("descent.trial-result-state")]
public sealed class TrialResultState
{
    [Id(0)] public TrialRecord? Record { get; set; }
}

/// <summary>One trial's full result, persisted on its own (key: "sweep-id/trial-id").</summary>
public sealed class TrialResultGrain([PersistentState("result", SweepStorage.Name)] IPersistentState<TrialResultState> state)
    : Grain, ITrialResultGrain
{
    public async Task Save(TrialRecord record)
    {
        state.State.Record = record;
        await state.WriteStateAsync();
    }

    public Task<TrialRecord?> Get() => Task.FromResult(state.State.Record);
}
