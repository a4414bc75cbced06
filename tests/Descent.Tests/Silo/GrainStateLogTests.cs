using System.Text;
using Descent.Silo;
using Descent.Tests.Client;
using Orleans.Storage;

namespace Descent.Tests.Silo;

/// <summary>The local grain store (<see cref="GrainStateLog"/>): what is written is read back after reopening, ETags
/// guard every write, a record cut short is dropped, a process killed with SIGKILL loses no completed write, and one
/// process at a time holds a store.</summary>
public class GrainStateLogTests
{
    static string Folder() => Path.Combine(GridFiles.Folder(), "state");

    static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    static string? Read(GrainStateLog log, string key) =>
        log.TryRead(key, out _, out var data) ? Encoding.UTF8.GetString(data.Span) : null;

    static string ETag(GrainStateLog log, string key) => log.TryRead(key, out var etag, out _) ? etag! : throw new KeyNotFoundException(key);

    [Fact]
    public async Task What_is_written_is_read_back_and_survives_reopening()
    {
        var folder = Folder();
        string a, b;
        using (var log = GrainStateLog.Open(folder))
        {
            Assert.Null(Read(log, "trial/s/1"));
            a = await log.WriteAsync("trial/s/1", null, Bytes("queued"));
            a = await log.WriteAsync("trial/s/1", a, Bytes("running"));
            b = await log.WriteAsync("sweep/s", null, Bytes("spec ∑"));
            var gone = await log.WriteAsync("trial/s/2", null, Bytes("to be cleared"));
            await log.ClearAsync("trial/s/2", gone);
            Assert.Equal("running", Read(log, "trial/s/1"));
            Assert.Null(Read(log, "trial/s/2"));
            Assert.Equal(a, ETag(log, "trial/s/1"));
            Assert.NotEqual(a, b);
        }
        Assert.Equal([GrainStateLog.FileName, GrainStateLog.LockName, GrainStateLog.OwnerName], Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        using (var log = GrainStateLog.Open(folder))
        {
            Assert.Equal(2, log.Count);
            Assert.Equal("running", Read(log, "trial/s/1"));
            Assert.Equal("spec ∑", Read(log, "sweep/s"));
            Assert.Null(Read(log, "trial/s/2"));
            // The ETags are the stored ones: the grains' next writes go through.
            Assert.Equal((a, b), (ETag(log, "trial/s/1"), ETag(log, "sweep/s")));
            var c = await log.WriteAsync("trial/s/1", a, Bytes("completed"));
            Assert.NotEqual(a, c);
            Assert.NotEqual(b, c);
        }
        using (var log = GrainStateLog.Open(folder)) Assert.Equal("completed", Read(log, "trial/s/1"));
    }

    [Fact]
    public async Task A_write_or_clear_with_another_ETag_is_refused_and_changes_nothing()
    {
        using var log = GrainStateLog.Open(Folder());
        var first = await log.WriteAsync("k", null, Bytes("one"));
        var second = await log.WriteAsync("k", first, Bytes("two"));
        var length = log.Length;
        // A stale ETag, none although a state is stored, and one although none is.
        var stale = await Assert.ThrowsAsync<InconsistentStateException>(() => log.WriteAsync("k", first, Bytes("stale")));
        Assert.Equal(second, stale.StoredEtag);
        Assert.Equal(first, stale.CurrentEtag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => log.WriteAsync("k", null, Bytes("blind")));
        await Assert.ThrowsAsync<InconsistentStateException>(() => log.WriteAsync("other", second, Bytes("new")));
        await Assert.ThrowsAsync<InconsistentStateException>(() => log.ClearAsync("k", first));
        Assert.Equal("two", Read(log, "k"));
        Assert.Equal(second, ETag(log, "k"));
        Assert.Equal(length, log.Length); // nothing was appended
        // An empty ETag is none, as Orleans passes it for a state never written.
        await log.WriteAsync("other", "", Bytes("new"));
        Assert.Equal("new", Read(log, "other"));
    }

    [Fact]
    public async Task A_record_cut_short_is_dropped_and_the_next_write_follows_the_last_whole_one()
    {
        var folder = Folder();
        var path = Path.Combine(folder, GrainStateLog.FileName);
        long whole;
        using (var log = GrainStateLog.Open(folder))
        {
            await log.WriteAsync("a", null, Bytes("kept"));
            whole = log.Length;
            await log.WriteAsync("b", null, Bytes(new string('b', 300)));
        }
        // A kill in the middle of the last write: only part of its record reached the file.
        foreach (var cut in new[] { 3, 9, 40 })
        {
            File.Copy(path, path + ".full", overwrite: true);
            using (var file = new FileStream(path, FileMode.Open)) file.SetLength(whole + cut);
            using (var log = GrainStateLog.Open(folder))
            {
                Assert.Equal("kept", Read(log, "a"));
                Assert.Null(Read(log, "b"));
                Assert.Equal(whole, log.Length); // cut back to the last whole record
                await log.WriteAsync("c", null, Bytes("after"));
            }
            using (var log = GrainStateLog.Open(folder)) Assert.Equal(("kept", null, "after"), (Read(log, "a"), Read(log, "b"), Read(log, "c")));
            File.Move(path + ".full", path, overwrite: true);
        }
        // A whole-length record whose bytes are not the ones written (a torn page): its checksum fails.
        var bytes = File.ReadAllBytes(path);
        bytes[^5] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        using (var log = GrainStateLog.Open(folder))
        {
            Assert.Equal("kept", Read(log, "a"));
            Assert.Null(Read(log, "b"));
        }
    }

    [Fact]
    public async Task A_log_much_larger_than_its_live_states_is_compacted_when_opened()
    {
        var folder = Folder();
        var value = new string('v', 4000);
        string etag;
        using (var log = GrainStateLog.Open(folder))
        {
            etag = await log.WriteAsync("kept", null, Bytes("kept"));
            var overwritten = await log.WriteAsync("rewritten", null, Bytes(value));
            for (var i = 0; i < 600; i++) overwritten = await log.WriteAsync("rewritten", overwritten, Bytes(value + i));
        }
        var path = Path.Combine(folder, GrainStateLog.FileName);
        var before = new FileInfo(path).Length;
        Assert.True(before > 2_000_000, $"{before} bytes");
        long after;
        using (var log = GrainStateLog.Open(folder))
        {
            after = log.Length;
            Assert.InRange(after, 1, 10_000);
            Assert.Equal(log.Length - 20, log.LiveBytes); // a 20-byte header, then the live records only
            Assert.Equal("kept", Read(log, "kept"));
            Assert.Equal(value + 599, Read(log, "rewritten"));
            Assert.Equal(etag, ETag(log, "kept"));
        }
        Assert.Equal(after, new FileInfo(path).Length);
        Assert.False(File.Exists(path + ".new"));
    }

    [Fact]
    public async Task Concurrent_writers_share_flushes_and_each_write_completes_once_on_the_disk()
    {
        using var log = GrainStateLog.Open(Folder());
        const int Writers = 16, Writes = 50;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            string? etag = null;
            for (var n = 0; n < Writes; n++) etag = await log.WriteAsync($"w{w}", etag, Bytes($"{n}"));
        })));
        Assert.Equal(Writers, log.Count);
        for (var w = 0; w < Writers; w++) Assert.Equal($"{Writes - 1}", Read(log, $"w{w}"));
        // Group commit: writes that arrive during a flush wait for the next one, which covers them all.
        Assert.InRange(log.Flushes, 1, Writers * Writes - 1);
    }

    [Fact]
    public async Task A_store_killed_with_SIGKILL_keeps_every_completed_write_and_is_refused_to_others_while_open()
    {
        var folder = Folder();
        using var writer = RunningProcess.Start("descent-store-writer.dll", Path.GetDirectoryName(folder)!, folder, "8");
        await writer.WaitFor(o => o.Split('\n').Length > 2000, TimeSpan.FromMinutes(2), onStdout: true);

        // While the writer holds the store, nobody else opens it, and the refusal names the holder.
        var refused = Assert.Throws<StoreLockedException>(() => GrainStateLog.Open(folder));
        Assert.Equal(writer.Id, refused.Pid);
        Assert.Equal(Path.GetFullPath(folder), refused.Folder);
        Assert.Contains($"in use by another process (pid {writer.Id})", refused.Message);

        writer.Signal(9); // SIGKILL: no handler, no flush, no close
        await writer.Exit(TimeSpan.FromMinutes(1));
        var acknowledged = new Dictionary<string, long>();
        foreach (var line in writer.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2 && long.TryParse(parts[1], out var n)) acknowledged[$"w{parts[0]}"] = n;
        }
        Assert.Equal(8, acknowledged.Count);

        // The kernel released the lock with the process; every write it reported complete is there (the write in
        // flight at the kill may be there too).
        using var log = GrainStateLog.Open(folder);
        foreach (var (key, last) in acknowledged)
        {
            var stored = long.Parse(Read(log, key)!.Split(':')[0]);
            Assert.InRange(stored, last, last + 1);
        }
    }

    [Fact]
    public void A_second_open_in_the_same_process_is_refused_until_the_first_is_closed()
    {
        var folder = Folder();
        using (GrainStateLog.Open(folder))
        {
            var refused = Assert.Throws<StoreLockedException>(() => GrainStateLog.Open(folder));
            Assert.Equal(Environment.ProcessId, refused.Pid);
        }
        using (GrainStateLog.Open(folder)) { }
    }

    [Fact]
    public void A_log_of_another_format_version_or_not_a_log_is_refused_naming_the_file()
    {
        var folder = Folder();
        using (GrainStateLog.Open(folder)) { }
        var path = Path.Combine(folder, GrainStateLog.FileName);
        var bytes = File.ReadAllBytes(path);
        bytes[16] = 9; // the version, after the 16-byte magic
        File.WriteAllBytes(path, bytes);
        var other = Assert.Throws<StoreFormatException>(() => GrainStateLog.Open(folder));
        Assert.Equal($"{path} was written in store format version 9; this program reads version {GrainStateLog.FormatVersion}", other.Message);

        File.WriteAllText(path, "{\"not\": \"a store\"}");
        Assert.Equal($"{path} is not a Descent grain store (its first bytes are not a store's header)",
            Assert.Throws<StoreFormatException>(() => GrainStateLog.Open(folder)).Message);
        // Refused before anything was changed, and the folder is free again.
        Assert.Equal("{\"not\": \"a store\"}", File.ReadAllText(path));
        File.Delete(path);
        using (GrainStateLog.Open(folder)) { }
    }
}
