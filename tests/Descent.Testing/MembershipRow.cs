using System.Text.Json;
using Orleans.Runtime;

namespace Descent.Testing;

/// <summary>
/// One silo's row of Orleans' membership table as Orleans' Redis clustering keeps it: a hash per cluster
/// (<see cref="Key"/>) with a JSON value per silo generation and a <see cref="VersionField"/> field.
/// </summary>
/// <param name="Silo">The silo generation, as <see cref="SiloAddress.ToParsableString"/> writes it
/// (<c>127.0.0.2:40211@154969503</c>): the form results.json's <c>silo</c> and the trials' leases use.</param>
/// <param name="Status">Its status in the table (<see cref="SiloStatus.Dead"/> once declared dead).</param>
/// <param name="Voters">The silos that voted it dead (<c>SuspectTimes</c>), each as <paramref name="Silo"/> is written;
/// a silo that stops gracefully votes for itself.</param>
public sealed record MembershipRow(string Silo, SiloStatus Status, IReadOnlyList<string> Voters)
{
    public const string VersionField = "Version";

    /// <summary>The Redis hash of a cluster whose service id equals its cluster id (as <see cref="RealCluster"/>'s).</summary>
    public static string Key(string clusterId) => $"{clusterId}/members/{clusterId}";

    /// <summary>The endpoint part of <see cref="Silo"/> (<c>127.0.0.2:40211</c>): the same for every generation of a
    /// silo started again on its address and port.</summary>
    public string Endpoint => Silo[..Silo.IndexOf('@')];

    /// <summary>The generation part of <see cref="Silo"/>: larger for a later start on the same endpoint.</summary>
    public long Generation => long.Parse(Silo[(Silo.IndexOf('@') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    public static MembershipRow Parse(string json)
    {
        var row = JsonDocument.Parse(json).RootElement;
        return new MembershipRow(
            row.GetProperty("SiloAddress").GetProperty("SiloAddress").GetString()!,
            (SiloStatus)row.GetProperty("Status").GetInt32(),
            [.. row.GetProperty("SuspectTimes").EnumerateArray().Select(v => v.GetProperty("Item1").GetProperty("SiloAddress").GetString()!)]);
    }
}
