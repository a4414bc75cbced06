namespace Descent.Contracts.Trials;

/// <summary>What "a finite number" means for the real-valued fields of a spec. Values that enter float32 arithmetic
/// (the learning rate and scale_i move float32 parameters, noise is added to float32 data) must be finite in float32
/// too: 1e39 is a double, but an infinity once it meets the model.</summary>
static class FiniteNumbers
{
    /// <summary>Within ±3.4028235E+38, float32's largest finite value; false for NaN and the infinities.</summary>
    public static bool InFloat32(double value) => Math.Abs(value) <= float.MaxValue;

    /// <summary>" (it overflows float32, the type of <paramref name="what"/>)" for a finite double past float32's
    /// range, otherwise "" (NaN and infinities need no reason beyond "must be a finite number").</summary>
    public static string Overflow(double value, string what) =>
        double.IsFinite(value) && !InFloat32(value) ? $" (it overflows float32, the type of {what})" : "";
}
