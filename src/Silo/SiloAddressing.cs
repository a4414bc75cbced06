using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

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

    /// <summary>The silo and gateway endpoints this silo will listen on (<see cref="EndpointOptions"/>: the advertised
    /// address, or every interface with <c>ListenOnAllInterfaces</c>) that another process listens on now, each a
    /// problem naming the setting, the port and the address; none when both are free. Checked before the silo starts:
    /// a second silo started on a live silo's address and port would join the cluster as a newer version of it and
    /// have it declared dead, killing the healthy silo. Each endpoint is bound and listened on with a plain socket (no
    /// address reuse), and released at once.</summary>
    public static IReadOnlyList<string> EndpointsInUse(IServiceProvider services)
    {
        var endpoints = services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        var problems = new List<string>();
        foreach (var (setting, endpoint) in new[]
                 {
                     (nameof(DescentSiloOptions.SiloPort), endpoints.SiloListeningEndpoint),
                     (nameof(DescentSiloOptions.GatewayPort), endpoints.GatewayListeningEndpoint),
                 })
        {
            if (endpoint is null || endpoint.Port == 0 || BindProblem(endpoint) is not { } problem) continue;
            var where = endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any)
                ? $"every interface ({endpoint.Address})"
                : $"{endpoint.Address}";
            problems.Add($"{DescentSiloOptions.Section}:{setting} = {endpoint.Port} on {where} {problem}");
        }
        return problems;
    }

    /// <summary>Null when <paramref name="endpoint"/> can be listened on now (the socket is closed again), else why not.</summary>
    static string? BindProblem(IPEndPoint endpoint)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // No address reuse: on Linux, .NET's ReuseAddress sets SO_REUSEPORT as well (the silo's own listener has
            // it, which is how a second silo could listen on a live one's port), and with it this bind would succeed
            // beside a listener. Without it, a port another socket listens on (on this address or on every interface)
            // is refused, while the connections a silo killed a moment ago left in TIME_WAIT there are not (.NET's bind
            // still sets SO_REUSEADDR alone), so a silo started again at once is not refused.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, false);
            socket.Bind(endpoint);
            socket.Listen();
            return null;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return "is in use (another silo or process listens there)";
        }
        catch (SocketException e)
        {
            return $"cannot be listened on ({e.Message})";
        }
    }
}
