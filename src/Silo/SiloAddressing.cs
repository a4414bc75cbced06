using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Descent.Silo;

/// <summary>Which address a silo advertises and listens on (<see cref="DescentSiloOptions.AdvertisedAddress"/>).</summary>
public static class SiloAddressing
{
    /// <summary>The IP address <paramref name="text"/> names (an address, or a host name resolved now, IPv4 first), or
    /// the problem naming why not.</summary>
    public static (IPAddress? Address, string? Problem) Resolve(string text)
    {
        if (IPAddress.TryParse(text, out var address)) return (address, null);
        try
        {
            var addresses = Dns.GetHostAddresses(text);
            var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
            return chosen is null ? (null, "the host name has no address") : (chosen, null);
        }
        catch (Exception e) when (e is SocketException or ArgumentException)
        {
            return (null, $"not an IP address, and the host name does not resolve ({e.Message})");
        }
    }

    /// <summary>The address to advertise: <paramref name="configured"/> (resolved), else loopback for localhost
    /// clustering, else this host's first IPv4 address on an interface that is up and not loopback (what a pod's
    /// POD_IP is), else loopback.</summary>
    public static IPAddress Advertised(string? configured, bool localhostClustering)
    {
        if (configured is { Length: > 0 } && Resolve(configured).Address is { } address) return address;
        if (localhostClustering) return IPAddress.Loopback;
        return NetworkInterface.GetAllNetworkInterfaces()
                   .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
                   .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                   .Select(a => a.Address)
                   .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
               ?? IPAddress.Loopback;
    }
}
