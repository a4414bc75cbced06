using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Descent.Silo;

/// <summary>What one read of the membership table said of this silo.</summary>
public enum MembershipReading
{
    /// <summary>Its row is there and says active.</summary>
    Active,
    /// <summary>The table was read and holds no row for this silo: the table lost it (a Redis restarted without its
    /// data, a new volume). Orleans never writes a lost row again, so the silo cannot rejoin as it is.</summary>
    Missing,
    /// <summary>Its row says something other than active (dead, shutting down).</summary>
    NotActive,
    /// <summary>The table could not be read (Redis down, or the table itself gone).</summary>
    Unreadable,
}

/// <summary>
/// Whether this silo is an active member of the cluster according to the membership table it reads, from a read
/// every few seconds (<see cref="MembershipGuard"/>). Orleans keeps its own snapshot, which still says "active" when
/// the table has lost the silo's row (a Redis restarted empty): the silo would then answer its probes healthy for
/// ever while no client or silo can find it. Ready while the last read found the row active. Lost when the table,
/// read, has not had the row active for <see cref="MembershipSettings.LostAfter"/>: then the silo exits so that its
/// supervisor starts it again. A table that cannot be read (Redis stalled or down, with its data) makes the silo
/// unready only: Orleans rides that out, and a silo that exited would lose its running trials for nothing.
/// Pure: the caller gives the times and the readings. Thread-safe (the probes read it while the guard writes).
/// </summary>
public sealed class MembershipWatch(TimeSpan lostAfter)
{
    readonly Lock _lock = new();
    /// <summary>Since when the reads have not found the row active (unready); and since when the table, read, has not
    /// had it (gone: what <see cref="Lost"/> counts).</summary>
    TimeSpan? _awaySince, _goneSince;
    TimeSpan _last;
    string _why = "";

    /// <summary>The bound: how long the silo may be away from the table before it is lost.</summary>
    public TimeSpan LostAfter => lostAfter;

    /// <summary>Takes in a read made at <paramref name="at"/>; <paramref name="detail"/> says what was found (the row's
    /// status, the error's first line) for the messages.</summary>
    public void Observe(TimeSpan at, MembershipReading reading, string detail = "")
    {
        lock (_lock)
        {
            _last = at;
            if (reading == MembershipReading.Active)
            {
                (_awaySince, _goneSince, _why) = (null, null, "");
                return;
            }
            _awaySince ??= at;
            if (reading != MembershipReading.Unreadable) _goneSince ??= at;
            _why = reading switch
            {
                MembershipReading.Missing => "the membership table holds no row for this silo (it lost it: a Redis restarted without its data, or a new volume?)",
                MembershipReading.NotActive => $"this silo's row in the membership table says {detail}",
                _ => $"the membership table cannot be read ({detail})",
            };
        }
    }

    /// <summary>True unless the last read found this silo away from the table (none yet counts as in it: Orleans' own
    /// snapshot says whether the silo joined).</summary>
    public bool InTable { get { lock (_lock) return _awaySince is null; } }

    /// <summary>The table, read, does not have this silo as an active member (its row missing or not active).</summary>
    public bool Gone { get { lock (_lock) return _goneSince is not null; } }

    /// <summary>Gone from the table for <see cref="LostAfter"/> or longer, as of the last read.</summary>
    public bool Lost { get { lock (_lock) return _goneSince is { } since && _last - since >= lostAfter; } }

    /// <summary>Why the silo is away from the table, and for how long as of the last read; empty while it is in it.</summary>
    public string Why
    {
        get
        {
            lock (_lock)
                return _awaySince is { } since ? $"{_why}, for {(_last - since).TotalSeconds:0} s" : "";
        }
    }
}

/// <summary>
/// Reads this silo's row of the membership table every <see cref="Every"/> once it has joined (shared clustering
/// only: with <c>localhost</c> clustering the table lives in a silo), feeds <see cref="MembershipWatch"/>, and when the
/// silo is lost stops the process with exit code 1 and one line (<see cref="StopDeadline"/>): a restarted silo joins
/// the table again, which this one cannot.
/// </summary>
public sealed class MembershipGuard(MembershipWatch watch, IServiceProvider services, StopDeadline deadline, ILogger<MembershipGuard> log)
    : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>How often the table is read: one small Redis read.</summary>
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(2);

    readonly CancellationTokenSource _stop = new();
    Task _loop = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MembershipGuard), ServiceLifecycleStage.Active, _ =>
        {
            _loop = Task.Run(Loop);
            return Task.CompletedTask;
        }, async _ =>
        {
            _stop.Cancel();
            await _loop;
        });

    async Task Loop()
    {
        var table = services.GetService<IMembershipTable>();
        var local = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        if (table is null) return;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!_stop.IsCancellationRequested)
        {
            var (reading, detail) = await Read(table, local);
            var wasIn = watch.InTable;
            watch.Observe(clock.Elapsed, reading, detail);
            // Once as it leaves and once as it comes back, not at every read.
            if (wasIn && !watch.InTable)
                log.LogWarning("This silo is not an active member of the cluster: {Why}; it stops if this lasts {Bound:0} s", watch.Why, watch.LostAfter.TotalSeconds);
            else if (!wasIn && watch.InTable) log.LogInformation("This silo is an active member of the cluster again");
            if (watch.Lost)
            {
                deadline.StopBecause($"this silo is no longer a member of the cluster: {watch.Why} (bound Descent:Membership:LostAfter = {watch.LostAfter}); stopping so that it can be started again and rejoin");
                return;
            }
            try { await Task.Delay(Every, _stop.Token); }
            catch (OperationCanceledException) { }
        }
    }

    static async Task<(MembershipReading, string)> Read(IMembershipTable table, SiloAddress local)
    {
        try
        {
            var data = await table.ReadRowAsync(local).WaitAsync(TimeSpan.FromSeconds(5));
            var row = data.Members.Select(m => m.Item1).FirstOrDefault(e => e.SiloAddress.Equals(local));
            return row is null ? (MembershipReading.Missing, "")
                : row.Status == SiloStatus.Active ? (MembershipReading.Active, "")
                : (MembershipReading.NotActive, row.Status.ToString());
        }
        catch (Orleans.Clustering.Redis.RedisClusteringException e) when (e.Message.Contains("version is missing", StringComparison.OrdinalIgnoreCase))
        {
            // Orleans' Redis table: the whole table is gone from Redis (its only way of saying so is this message).
            return (MembershipReading.Missing, "");
        }
        catch (Exception e)
        {
            return (MembershipReading.Unreadable, $"{e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
    }
}
