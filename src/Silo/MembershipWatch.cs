using System.Runtime.InteropServices;
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

/// <summary>
/// Bounds how long descent-silo takes to end once asked to stop: a graceful stop gets
/// <see cref="SiloHosting.ShutdownTimeout"/> and a little more (a pod's grace period must be longer), after which the
/// process ends with exit code 1 and one line. A silo lost from the cluster stops at once and
/// gets <see cref="LostGrace"/>, and so does a silo that cannot go on (<see cref="StopBecause"/>): it cannot update a membership table that no longer knows it, which Orleans would
/// otherwise retry for the whole shutdown timeout (seen: a silo whose Redis was emptied ignored SIGTERM for minutes).
/// </summary>
public sealed class StopDeadline(IHostApplicationLifetime lifetime, MembershipWatch watch, ILogger<StopDeadline> log) : IHostedService
{
    /// <summary>What a graceful stop gets beyond <see cref="SiloHosting.ShutdownTimeout"/> before the process ends.</summary>
    public static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);

    /// <summary>How long a silo that is not in the membership table gets to stop.</summary>
    public static readonly TimeSpan LostGrace = TimeSpan.FromSeconds(5);

    volatile string? _lost;
    volatile bool _enforced;
    int _armed;

    /// <summary>From now on a stop that overruns ends the process (descent-silo; the client's embedded silo does not
    /// call it: the client decides how long its own stop may take).</summary>
    public void Enforce() => _enforced = true;

    /// <summary>Why the silo stopped on its own (lost from the cluster, its store failed), or null: descent-silo prints
    /// it and exits 1.</summary>
    public string? Reason => _lost;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // A silo the table no longer has cannot write "shutting down" there: Orleans would retry for the whole timeout.
        lifetime.ApplicationStopping.Register(() => Arm(!watch.Gone && _lost is null ? SiloHosting.ShutdownTimeout + Margin : LostGrace));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops the silo because it cannot go on (lost from the cluster, its store cannot be written), at once and
    /// within <see cref="LostGrace"/>: <paramref name="reason"/> is its exit line.</summary>
    public void StopBecause(string reason)
    {
        _lost = reason;
        log.LogError("{Reason}", reason);
        lifetime.StopApplication();
    }

    void Arm(TimeSpan within)
    {
        if (!_enforced || Interlocked.Exchange(ref _armed, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            await Task.Delay(within);
            var why = _lost is { } lost ? lost
                : !watch.Gone ? $"did not stop within {within.TotalSeconds:0} s of the request to stop"
                : $"did not stop within {within.TotalSeconds:0} s of the request to stop while not a member of the cluster ({watch.Why})";
            Say($"{why}; ending the process (exit code 1)");
            Exit(1);
        });
    }

    int _said;

    /// <summary>Writes descent-silo's last line, once: the backstop and the host's own return may both get there.</summary>
    public void Say(string line)
    {
        if (Interlocked.Exchange(ref _said, 1) == 1) return;
        Console.Error.WriteLine($"descent-silo: {line}");
        Console.Error.Flush();
    }

    /// <summary>Ends the process at once: <see cref="Environment.Exit"/> would run the host's exit handlers, which wait
    /// for the very stop that did not finish.</summary>
    static void Exit(int code)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _exit(code);
        Environment.Exit(code);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    static extern void _exit(int status);
}
