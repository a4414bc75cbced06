using System.Text;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Grains.Sweeps;
using Descent.Silo;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Descent.Tests.Silo;

/// <summary>The stored state format (<see cref="StateSerializer"/>) and how Redis is named (<see cref="RedisAddress"/>).</summary>
public class StateFormatTests
{
    static readonly StateSerializer Format = new(new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>());

    static TrialGrainState Trial() => new()
    {
        Spec = new TrialSpec(new SyntheticTaskSpec(200, 4, 4, 1), new OptimizerSpec(OptimizerKind.Adam, 0.01), new Budget(10), Seed: 3),
        Status = TrialStatus.Running, Attempt = 2, Losses = 1, Holder = new DeviceSlot("S127.0.0.2:11111:1", 0, "cpu", "cpu:0"),
    };

    [Fact]
    public void State_round_trips_with_a_versioned_header_and_no_clr_names_of_ours()
    {
        var stored = Format.Serialize(Trial()).ToArray();
        Assert.Equal("DSC"u8.ToArray(), stored[..3]);
        Assert.Equal(StateSerializer.Version, StateSerializer.VersionOf(stored));
        // Types are written by alias: renaming or moving a class of ours does not make stored sweeps unreadable.
        Assert.DoesNotContain("Descent.", Encoding.Latin1.GetString(stored));
        var back = Format.Deserialize<TrialGrainState>(new BinaryData(stored))!;
        Assert.Equivalent(Trial(), back, strict: true);
    }

    [Fact]
    public void A_newer_or_foreign_record_is_refused_saying_why()
    {
        var stored = Format.Serialize(Trial()).ToArray();
        stored[3] = 9;
        var newer = Assert.Throws<StateFormatException>(() => Format.Deserialize<TrialGrainState>(new BinaryData(stored)));
        Assert.Equal("stored TrialGrainState is in state format version 9; this silo reads version 1 (upgrade the silo)", newer.Message);
        var foreign = Assert.Throws<StateFormatException>(() => Format.Deserialize<TrialGrainState>(new BinaryData("{\"a\":1}"u8.ToArray())));
        Assert.Equal("stored TrialGrainState is not in Descent's state format (no \"DSC\" header; 7 bytes)", foreign.Message);
    }

    [Theory]
    [InlineData("redis://127.0.0.1:6390", "127.0.0.1:6390", null, false)]
    [InlineData("redis://redis", "redis:6379", null, false)]
    [InlineData("rediss://:s3cret@a:1,b:2", "a:1,b:2", "s3cret", true)]
    [InlineData("redis://user:pw@[::1]:7000/3", "[::1]:7000", "pw", false)]
    [InlineData("10.0.0.1:6380,password=x", "10.0.0.1:6380", "x", false)]
    public void Redis_is_named_as_a_url_or_a_connection_string(string text, string endpoints, string? password, bool ssl)
    {
        var options = RedisAddress.Parse(text, "--cluster");
        Assert.Equal((endpoints, password, ssl), (RedisAddress.Describe(options), options.Password, options.Ssl));
    }

    [Theory]
    [InlineData("redis://", "--cluster = \"redis://\": names no Redis host; expected redis://host:port or host:port")]
    [InlineData("redis://:pw@h:0", "--cluster = \"redis://***@h:0\": port \"0\" is not between 1 and 65535; expected redis://host:port or host:port[,password=...]")]
    [InlineData("redis://h/db", "--cluster = \"redis://h/db\": database \"db\" is not a number; expected redis://host:port or host:port[,password=...]")]
    public void A_bad_redis_address_is_named_without_its_password(string text, string message) =>
        Assert.Equal(message, Assert.Throws<FormatException>(() => RedisAddress.Parse(text, "--cluster")).Message);
}
