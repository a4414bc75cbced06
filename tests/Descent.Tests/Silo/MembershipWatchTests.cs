using Descent.Silo;

namespace Descent.Tests.Silo;

/// <summary>When a silo is ready, and when it is lost, from its reads of the membership table (<see cref="MembershipWatch"/>).</summary>
public sealed class MembershipWatchTests
{
    static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void Before_any_read_and_while_its_row_is_active_the_silo_is_in_the_table()
    {
        var watch = new MembershipWatch(S(30));
        Assert.True(watch.InTable);
        watch.Observe(S(2), MembershipReading.Active);
        Assert.True(watch.InTable);
        Assert.False(watch.Lost);
        Assert.Equal("", watch.Why);
    }

    [Fact]
    public void A_missing_row_makes_it_unready_at_once_and_lost_after_the_bound()
    {
        var watch = new MembershipWatch(S(30));
        watch.Observe(S(2), MembershipReading.Active);
        watch.Observe(S(4), MembershipReading.Missing);
        Assert.False(watch.InTable);
        Assert.False(watch.Lost);
        Assert.StartsWith("the membership table holds no row for this silo", watch.Why);
        watch.Observe(S(33.9), MembershipReading.Missing);
        Assert.False(watch.Lost);
        watch.Observe(S(34), MembershipReading.Missing);
        Assert.True(watch.Lost);
        Assert.EndsWith("for 30 s", watch.Why);
    }

    [Fact]
    public void A_table_that_cannot_be_read_makes_the_silo_unready_but_never_lost()
    {
        // A Redis stalled or down with its data: Orleans rides it out; exiting would lose the silo's trials for nothing.
        var watch = new MembershipWatch(S(30));
        watch.Observe(S(2), MembershipReading.Unreadable, "RedisConnectionException: no connection");
        Assert.False(watch.InTable);
        Assert.False(watch.Gone);
        Assert.Contains("cannot be read (RedisConnectionException: no connection)", watch.Why);
        watch.Observe(S(600), MembershipReading.Unreadable, "RedisConnectionException: no connection");
        Assert.False(watch.Lost);
        // Back empty: the bound counts from the first read that finds no row.
        watch.Observe(S(602), MembershipReading.Missing);
        Assert.True(watch.Gone);
        watch.Observe(S(631), MembershipReading.Missing);
        Assert.False(watch.Lost);
        watch.Observe(S(632), MembershipReading.Missing);
        Assert.True(watch.Lost);
    }

    [Fact]
    public void A_table_back_with_its_data_costs_nothing()
    {
        var watch = new MembershipWatch(S(30));
        watch.Observe(S(2), MembershipReading.Unreadable, "RedisConnectionException: no connection");
        watch.Observe(S(14), MembershipReading.Unreadable, "RedisConnectionException: no connection");
        watch.Observe(S(16), MembershipReading.Active);
        Assert.True(watch.InTable);
        // Away again later: the bound counts from then, not from the first time.
        watch.Observe(S(40), MembershipReading.NotActive, "ShuttingDown");
        watch.Observe(S(60), MembershipReading.NotActive, "ShuttingDown");
        Assert.False(watch.Lost);
        Assert.StartsWith("this silo's row in the membership table says ShuttingDown", watch.Why);
    }
}
