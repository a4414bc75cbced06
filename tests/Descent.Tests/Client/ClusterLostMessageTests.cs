using Descent.Client.Cluster;
using Descent.Client.Commands;

namespace Descent.Tests.Client;

/// <summary>What the client says when it loses the cluster while following a sweep
/// (<see cref="SweepFollower.LostMessage"/>): commands that work as they are printed, with the cluster the client used.</summary>
public class ClusterLostMessageTests
{
    static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    [Fact]
    public void The_message_gives_the_status_and_leaderboard_commands_with_the_cluster_option_the_client_was_given()
    {
        // Before, it said `descent-client status ID`, which fails: "status needs a cluster".
        var target = ClusterTarget.From("redis://redis:6379", "descent", null, false);
        Assert.Equal("lost contact with the cluster in redis://redis:6379 for 60 s while following sweep s-1 (timed out); a cluster that comes back "
            + "goes on with it: `descent-client status s-1 --cluster redis://redis:6379` shows it, "
            + "`descent-client leaderboard s-1 --json --cluster redis://redis:6379 > results.json` gets its results, "
            + "and the trials that had ended are in its trials.jsonl", SweepFollower.LostMessage(target, "s-1", Budget, "timed out"));
    }

    [Fact]
    public void A_cluster_id_other_than_the_default_is_given_and_a_password_is_not()
    {
        var target = ClusterTarget.From("redis://:secret@10.0.0.5:6379", "lab", null, false);
        var message = SweepFollower.LostMessage(target, "s-1", Budget, "timed out");
        Assert.Contains("`descent-client status s-1 --cluster 'redis://***@10.0.0.5:6379' --cluster-id lab` shows it", message);
        Assert.Contains("`descent-client leaderboard s-1 --json --cluster 'redis://***@10.0.0.5:6379' --cluster-id lab > results.json`", message);
        Assert.DoesNotContain("secret", message);

        var gateways = ClusterTarget.From("127.0.0.1:30000,127.0.0.2:30000", "descent", null, false);
        Assert.Contains("`descent-client status s-1 --cluster 127.0.0.1:30000,127.0.0.2:30000` shows it", SweepFollower.LostMessage(gateways, "s-1", Budget, "x"));
    }

    [Fact]
    public void A_cluster_from_DESCENT_CLUSTER_is_named_as_the_variable()
    {
        var target = ClusterTarget.From("redis://redis:6379", "descent", null, false) with { Source = ClusterTarget.ClusterVariable };
        var message = SweepFollower.LostMessage(target, "s-1", Budget, "timed out");
        Assert.Contains("`descent-client status s-1 --cluster \"$DESCENT_CLUSTER\"` shows it", message);
        Assert.Contains("`descent-client leaderboard s-1 --json --cluster \"$DESCENT_CLUSTER\" > results.json` gets its results", message);
    }
}
