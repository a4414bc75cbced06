using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Descent.Grains.Training;

/// <summary>Device names as trials use them: <c>cpu</c> or <c>cuda:N</c>.</summary>
public static class Devices
{
    /// <summary>Parses and checks a device name; a clear <see cref="ArgumentException"/> when it cannot be used here.</summary>
    public static Device Parse(string name)
    {
        if (name == "cpu") return CPU;
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            var index = 0;
            if (name.Length > 5 && !int.TryParse(name.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out index))
                throw new ArgumentException($"device = \"{name}\": expected cpu or cuda:N with N a device number");
            if (!cuda.is_available())
                throw new ArgumentException($"device = \"{name}\": CUDA is not available in this process (CPU build of TorchSharp, or no GPU)");
            if (index >= cuda.device_count())
                throw new ArgumentException($"device = \"{name}\": this node has {cuda.device_count()} CUDA device(s)");
            return new Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"device = \"{name}\": expected cpu or cuda:N");
    }

    /// <summary>Waits for the device's queued work, so that a timer read next measures it (no-op on CPU).</summary>
    public static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }
}
