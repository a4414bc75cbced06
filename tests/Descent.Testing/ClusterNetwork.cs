using System.Diagnostics;
using System.Net;

namespace Descent.Testing;

/// <summary>Where a <see cref="RealCluster"/>'s processes run: the hosts its silos are on (0, 1, ...) and the host of
/// Redis and the client (<c>null</c>).</summary>
public abstract class ClusterNetwork : IDisposable
{
    public abstract IPAddress RedisAddress { get; }

    public abstract IPAddress SiloAddress(int host);

    /// <summary>The command that runs a program on <paramref name="host"/> (empty: on this machine as it is).</summary>
    public abstract string[] Wrapper(int? host);

    public virtual void Dispose() { }
}

/// <summary>One machine: Redis and the client on 127.0.0.1, silos on 127.0.0.2, .3, ...</summary>
public sealed class LoopbackNetwork : ClusterNetwork
{
    public override IPAddress RedisAddress => IPAddress.Loopback;
    public override IPAddress SiloAddress(int host) => IPAddress.Parse($"127.0.0.{host + 2}");
    public override string[] Wrapper(int? host) => [];
}

/// <summary>
/// Separate hosts on one machine (root only): a network namespace per silo, each with one end of a veth pair as
/// its <c>eth0</c> and an address of its own; the other ends are ports of a bridge in a hub namespace, which holds
/// Redis and the client (the bridge's address). Every address lives inside namespaces created here, none on this
/// machine's own interfaces; disposing deletes the namespaces (and with them their links). A host's link can be
/// taken down (a lost machine) and up again.
/// </summary>
public sealed class NamespaceNetwork : ClusterNetwork
{
    const string Ip = "/usr/sbin/ip";
    /// <summary>Names of the namespaces and links made here start with this (leftovers of a killed test run:
    /// <c>ip netns list | grep dsct</c>).</summary>
    const string Prefix = "dsct";

    readonly string _tag;
    readonly int _subnet;
    readonly int _hosts;

    NamespaceNetwork(string tag, int subnet, int hosts) => (_tag, _subnet, _hosts) = (tag, subnet, hosts);

    string Hub => $"{Prefix}{_tag}h";
    string HostNamespace(int host) => $"{Prefix}{_tag}s{host}";
    /// <summary>The hub's end of a host's veth pair (interface names are at most 15 characters).</summary>
    string HubPort(int host) => $"{Prefix}{_tag}p{host}";

    public override IPAddress RedisAddress => IPAddress.Parse($"10.213.{_subnet}.1");
    public override IPAddress SiloAddress(int host) =>
        host < _hosts ? IPAddress.Parse($"10.213.{_subnet}.{host + 2}") : throw new ArgumentOutOfRangeException(nameof(host), host, $"the network has {_hosts} hosts");

    public override string[] Wrapper(int? host) => [Ip, "netns", "exec", host is { } h ? HostNamespace(h) : Hub];

    /// <summary>True when this process may create namespaces (root, with <c>ip</c> installed).</summary>
    public static bool Available => Environment.UserName == "root" && File.Exists(Ip);

    /// <summary>Creates the hub and <paramref name="hosts"/> hosts.</summary>
    public static NamespaceNetwork Create(int hosts)
    {
        var tag = Guid.NewGuid().ToString("N")[..4];
        var network = new NamespaceNetwork(tag, Random.Shared.Next(1, 250), hosts);
        try
        {
            var hub = network.Hub;
            Run("netns", "add", hub);
            Run("-n", hub, "link", "set", "lo", "up");
            Run("-n", hub, "link", "add", "br0", "type", "bridge");
            Run("-n", hub, "addr", "add", $"{network.RedisAddress}/24", "dev", "br0");
            Run("-n", hub, "link", "set", "br0", "up");
            for (var host = 0; host < hosts; host++)
            {
                var ns = network.HostNamespace(host);
                var port = network.HubPort(host);
                var peer = $"{Prefix}{tag}e{host}";
                Run("netns", "add", ns);
                Run("-n", ns, "link", "set", "lo", "up");
                // The pair is made inside the hub namespace, so no end of it ever appears among this machine's links.
                Run("-n", hub, "link", "add", port, "type", "veth", "peer", "name", peer);
                Run("-n", hub, "link", "set", peer, "netns", ns);
                Run("-n", hub, "link", "set", port, "master", "br0", "up");
                Run("-n", ns, "link", "set", peer, "name", "eth0");
                Run("-n", ns, "addr", "add", $"{network.SiloAddress(host)}/24", "dev", "eth0");
                Run("-n", ns, "link", "set", "eth0", "up");
            }
        }
        catch
        {
            network.Dispose();
            throw;
        }
        return network;
    }

    /// <summary>Takes <paramref name="host"/>'s link down: nothing reaches it and it reaches nothing (a lost machine).</summary>
    public void LinkDown(int host) => Run("-n", Hub, "link", "set", HubPort(host), "down");

    public void LinkUp(int host) => Run("-n", Hub, "link", "set", HubPort(host), "up");

    static string Run(params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(Ip, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"ip {string.Join(' ', args)}: exit {process.ExitCode}: {error.Trim()}");
        return output;
    }

    public override void Dispose()
    {
        foreach (var ns in Enumerable.Range(0, _hosts).Select(HostNamespace).Append(Hub))
        {
            try { Run("netns", "del", ns); }
            catch (InvalidOperationException) { /* not created */ }
        }
    }
}
