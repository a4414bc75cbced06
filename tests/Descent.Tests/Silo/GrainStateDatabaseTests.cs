using System.Text;
using Descent.Silo;
using Descent.Tests.Client;
using Microsoft.Data.Sqlite;
using Orleans.Storage;

namespace Descent.Tests.Silo;

/// <summary>The local grain store (<see cref="GrainStateDatabase"/>, SQLite): what is written is read back after
/// reopening, ETags guard every write and clear, concurrent writes share commits, a process killed with SIGKILL loses
/// no completed write, one process at a time holds a store, and a file that is not a store of this version is refused
/// with a line naming it, left as it was.</summary>
public class GrainStateDatabaseTests
{
    const string Trial = "trial";

    static string Folder() => Path.Combine(GridFiles.Folder(), "state");

    static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    static string? Read(GrainStateDatabase store, string id, string name = Trial) =>
        store.TryRead(name, id, out _, out var data) ? Encoding.UTF8.GetString(data.Span) : null;

    static string ETag(GrainStateDatabase store, string id, string name = Trial) =>
        store.TryRead(name, id, out var etag, out _) ? etag! : throw new KeyNotFoundException(id);

    /// <summary>Runs <paramref name="sql"/> on the database in <paramref name="folder"/>, as another program would.</summary>
    static void Sql(string folder, string sql)
    {
        using var database = new SqliteConnection($"Data Source={Path.Combine(folder, GrainStateDatabase.FileName)};Pooling=False");
        database.Open();
        using var command = database.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task What_is_written_is_read_back_and_survives_reopening()
    {
        var folder = Folder();
        string a, b;
        using (var store = GrainStateDatabase.Open(folder))
        {
            Assert.Null(Read(store, "s/1"));
            a = await store.WriteAsync(Trial, "s/1", null, Bytes("queued"));
            a = await store.WriteAsync(Trial, "s/1", a, Bytes("running"));
            b = await store.WriteAsync("sweep", "s", null, Bytes("spec ∑"));
            // The same grain id under another state name is another state.
            await store.WriteAsync("sweep", "s/1", null, Bytes("other"));
            Assert.Equal("running", Read(store, "s/1"));
            Assert.Equal(a, ETag(store, "s/1"));
            Assert.NotEqual(a, b);
        }
        // Closed: SQLite has moved its log into the database.
        Assert.Equal([GrainStateDatabase.FileName, StoreLock.LockName, StoreLock.OwnerName], Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        using (var store = GrainStateDatabase.Open(folder))
        {
            Assert.Equal(3, store.Count);
            Assert.Equal("running", Read(store, "s/1"));
            Assert.Equal("spec ∑", Read(store, "s", "sweep"));
            Assert.Equal("other", Read(store, "s/1", "sweep"));
            // The ETags are the stored ones: the grains' next writes go through, and new ETags are new.
            Assert.Equal((a, b), (ETag(store, "s/1"), ETag(store, "s", "sweep")));
            var c = await store.WriteAsync(Trial, "s/1", a, Bytes("completed"));
            Assert.NotEqual(a, c);
            Assert.NotEqual(b, c);
        }
        using (var again = GrainStateDatabase.Open(folder)) Assert.Equal("completed", Read(again, "s/1"));
    }

    [Fact]
    public async Task A_write_or_clear_with_another_ETag_is_refused_and_changes_nothing()
    {
        using var store = GrainStateDatabase.Open(Folder());
        var first = await store.WriteAsync(Trial, "k", null, Bytes("one"));
        var second = await store.WriteAsync(Trial, "k", first, Bytes("two"));
        // A stale ETag, none although a state is stored, one although none is, and one that was never an ETag.
        var stale = await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteAsync(Trial, "k", first, Bytes("stale")));
        Assert.Equal(second, stale.StoredEtag);
        Assert.Equal(first, stale.CurrentEtag);
        Assert.Equal($"grain state {Trial}/k: written with ETag {first}, but the store holds {second}", stale.Message);
        await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteAsync(Trial, "k", null, Bytes("blind")));
        await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteAsync(Trial, "k", "not-an-etag", Bytes("odd")));
        var none = await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteAsync(Trial, "other", second, Bytes("new")));
        Assert.Equal("", none.StoredEtag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => store.ClearAsync(Trial, "k", first));
        await Assert.ThrowsAsync<InconsistentStateException>(() => store.ClearAsync(Trial, "k", null));
        Assert.Equal("two", Read(store, "k"));
        Assert.Equal(second, ETag(store, "k"));
        Assert.Null(Read(store, "other"));
        // An empty ETag is none, as Orleans passes it for a state never written; the store takes writes after refusals.
        await store.WriteAsync(Trial, "other", "", Bytes("new"));
        Assert.Equal("new", Read(store, "other"));
    }

    [Fact]
    public async Task A_cleared_state_is_gone_after_reopening_and_is_written_again_with_a_new_ETag()
    {
        var folder = Folder();
        string cleared;
        using (var store = GrainStateDatabase.Open(folder))
        {
            cleared = await store.WriteAsync(Trial, "gone", null, Bytes("to be cleared"));
            await store.WriteAsync(Trial, "kept", null, Bytes("kept"));
            await store.ClearAsync(Trial, "gone", cleared);
            // Clearing a state never written, with no ETag, is nothing to do.
            await store.ClearAsync(Trial, "never", null);
            Assert.Null(Read(store, "gone"));
        }
        using (var store = GrainStateDatabase.Open(folder))
        {
            Assert.Equal(1, store.Count);
            Assert.Null(Read(store, "gone"));
            Assert.Equal("kept", Read(store, "kept"));
            // The old ETag no longer writes; a new state does, under an ETag never given before.
            await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteAsync(Trial, "gone", cleared, Bytes("stale")));
            var again = await store.WriteAsync(Trial, "gone", null, Bytes("again"));
            Assert.True(long.Parse(again) > long.Parse(cleared), $"{again} after {cleared}");
            Assert.Equal("again", Read(store, "gone"));
        }
    }

    [Fact]
    public async Task Concurrent_writers_share_commits_and_each_write_completes_once_committed()
    {
        using var store = GrainStateDatabase.Open(Folder());
        const int Writers = 16, Writes = 50;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            string? etag = null;
            for (var n = 0; n < Writes; n++)
            {
                etag = await store.WriteAsync(Trial, $"w{w}", etag, Bytes($"{n}"));
                Assert.Equal($"{n}", Read(store, $"w{w}")); // a completed write is read back at once
            }
        })));
        Assert.Equal(Writers, store.Count);
        for (var w = 0; w < Writers; w++) Assert.Equal($"{Writes - 1}", Read(store, $"w{w}"));
        // Group commit: writes that arrive during a commit wait for the next one, which carries them all.
        Assert.InRange(store.Commits, 1, Writers * Writes - 1);
    }

    [Fact]
    public async Task A_store_killed_with_SIGKILL_keeps_every_completed_write_and_is_refused_to_others_while_open()
    {
        var folder = Folder();
        using var writer = RunningProcess.Start("descent-store-writer.dll", Path.GetDirectoryName(folder)!, folder, "8");
        await writer.WaitFor(o => o.Split('\n').Length > 2000, TimeSpan.FromMinutes(2), onStdout: true);

        // While the writer holds the store, nobody else opens it, and the refusal names the holder.
        var refused = Assert.Throws<StoreLockedException>(() => GrainStateDatabase.Open(folder));
        Assert.Equal(writer.Id, refused.Pid);
        Assert.Equal(Path.GetFullPath(folder), refused.Folder);
        Assert.Contains($"in use by another process (pid {writer.Id})", refused.Message);

        writer.Signal(9); // SIGKILL: no handler, no flush, no close, no checkpoint
        await writer.Exit(TimeSpan.FromMinutes(1));
        var acknowledged = new Dictionary<string, long>();
        foreach (var line in writer.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2 && long.TryParse(parts[1], out var n)) acknowledged[$"w{parts[0]}"] = n;
        }
        Assert.Equal(8, acknowledged.Count);
        Assert.True(File.Exists(Path.Combine(folder, GrainStateDatabase.FileName + "-wal")), "the kill left SQLite's log behind");

        // The kernel released the lock with the process; SQLite recovers its log, and every write the writer reported
        // complete is there (the writes in flight at the kill may be there too).
        using var store = GrainStateDatabase.Open(folder);
        foreach (var (id, last) in acknowledged)
        {
            var stored = long.Parse(Read(store, id, "writer")!.Split(':')[0]);
            Assert.InRange(stored, last, last + 1);
        }
        // And it goes on from there.
        var etag = ETag(store, "w0", "writer");
        await store.WriteAsync("writer", "w0", etag, Bytes("after the kill"));
    }

    [Fact]
    public void A_second_open_in_the_same_process_is_refused_until_the_first_is_closed()
    {
        var folder = Folder();
        using (GrainStateDatabase.Open(folder))
        {
            var refused = Assert.Throws<StoreLockedException>(() => GrainStateDatabase.Open(folder));
            Assert.Equal(Environment.ProcessId, refused.Pid);
            Assert.Equal($"the grain store in {Path.GetFullPath(folder)} is in use by another process (pid {Environment.ProcessId})", refused.Message);
        }
        using (GrainStateDatabase.Open(folder)) { }
    }

    [Fact]
    public async Task A_store_of_another_format_version_is_refused_naming_the_file_and_both_versions_and_left_as_it_was()
    {
        var folder = Folder();
        using (var store = GrainStateDatabase.Open(folder)) await store.WriteAsync(Trial, "k", null, Bytes("kept"));
        Sql(folder, "PRAGMA user_version = 9");
        var path = Path.Combine(folder, GrainStateDatabase.FileName);
        var bytes = File.ReadAllBytes(path);
        var other = Assert.Throws<StoreFormatException>(() => GrainStateDatabase.Open(folder));
        Assert.Equal($"{path} was written in store format version 9; this program reads version {GrainStateDatabase.FormatVersion}", other.Message);
        Assert.Equal(path, other.Path);
        Assert.Equal(bytes, File.ReadAllBytes(path));

        // Back to this version: the folder was released, and the state is there.
        Sql(folder, $"PRAGMA user_version = {GrainStateDatabase.FormatVersion}");
        using (var store = GrainStateDatabase.Open(folder)) Assert.Equal("kept", Read(store, "k"));
    }

    [Fact]
    public void A_store_of_format_version_1_the_append_only_log_is_refused_naming_it()
    {
        var folder = Folder();
        Directory.CreateDirectory(folder);
        var log = Path.Combine(folder, GrainStateDatabase.LogFileName);
        File.WriteAllText(log, "descent grains\r\n");
        var refused = Assert.Throws<StoreFormatException>(() => GrainStateDatabase.Open(folder));
        Assert.Equal($"{log} was written in store format version 1; this program reads version {GrainStateDatabase.FormatVersion} "
            + $"({Path.Combine(folder, GrainStateDatabase.FileName)})", refused.Message);
        Assert.Equal(log, refused.Path);
        Assert.False(File.Exists(Path.Combine(folder, GrainStateDatabase.FileName)));
    }

    [Fact]
    public async Task A_file_that_is_not_a_grain_store_is_refused_with_one_line_naming_it_and_left_as_it_was()
    {
        var folder = Folder();
        using (GrainStateDatabase.Open(folder)) { }
        var path = Path.Combine(folder, GrainStateDatabase.FileName);

        // Not a database at all.
        File.WriteAllText(path, "{\"not\": \"a store\", \"padding\": \"" + new string('x', 200) + "\"}");
        var text = Assert.Throws<StoreFormatException>(() => GrainStateDatabase.Open(folder));
        Assert.Equal($"{path} is not a Descent grain store (SQLite Error 26: 'file is not a database')", text.Message);
        Assert.StartsWith("{\"not\": \"a store\"", File.ReadAllText(path));

        // Another program's SQLite database.
        File.Delete(path);
        Sql(folder, "CREATE TABLE songs (title TEXT)");
        Assert.Equal($"{path} is not a Descent grain store (an SQLite database of something else)",
            Assert.Throws<StoreFormatException>(() => GrainStateDatabase.Open(folder)).Message);

        // A store whose pages were damaged (a disk that lost them): refused when opened, not at the first read.
        File.Delete(path);
        using (var store = GrainStateDatabase.Open(folder))
            for (var i = 0; i < 20; i++) await store.WriteAsync(Trial, $"{i}", null, Bytes(new string('v', 1000)));
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length >= 3 * 4096, $"{bytes.Length} bytes");
        Array.Fill(bytes, (byte)0xA5, 4096, bytes.Length - 4096); // every page but the first (the schema)
        File.WriteAllBytes(path, bytes);
        var damaged = Assert.Throws<StoreFormatException>(() => GrainStateDatabase.Open(folder));
        Assert.StartsWith($"{path} is not a Descent grain store (SQLite Error 11: ", damaged.Message);
        Assert.DoesNotContain('\n', damaged.Message);

        // Each refusal released the folder.
        File.Delete(path);
        using (GrainStateDatabase.Open(folder)) { }
    }
}
