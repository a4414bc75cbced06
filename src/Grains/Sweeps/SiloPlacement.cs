using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Descent.Grains.Sweeps;

/// <summary>Calls a grain so that, if it has to be activated, it is activated on <paramref name="silo"/>
/// (Orleans' placement hint, honoured by grains with PreferLocalPlacement).</summary>
static class SiloPlacement
{
    public static async Task<T> On<T>(SiloAddress silo, Func<Task<T>> call)
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        try
        {
            return await call();
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }
    }

    public static string Key(this SiloAddress silo) => silo.ToParsableString();
}
