namespace Descent.Grains.Sweeps;

/// <summary>The grain storage provider sweeps persist into; the silo host decides what backs it.</summary>
public static class SweepStorage
{
    public const string Name = "descent";
}
