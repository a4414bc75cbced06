using Descent.Silo;
using Descent.Testing;
using Descent.Tests.Client;

namespace Descent.Tests.Silo;

/// <summary>The local grain store when its disk fails it, on real file systems: full (a small tmpfs), read-only, or its
/// folder removed while open. The failed write names the file and the cause in one line, the store reports it
/// (<see cref="GrainStateDatabase.Failed"/>, what the client follows) and takes no more writes, and every write that
/// had completed is read back once the disk has room again. The tmpfs tests need root (CI runs as root).</summary>
public class StoreWriteFailureTests
{
    const string Trial = "trial";

    [Fact]
    public async Task A_full_disk_fails_the_write_naming_the_file_and_keeps_every_completed_write_for_a_reopened_store()
    {
        using var disk = SmallDisk.Mount("160k");
        var folder = Path.Combine(disk.Path, "state");
        var data = new byte[6000];
        var written = new Dictionary<string, string>();
        WriteFailedException? failure = null;
        using (var store = GrainStateDatabase.Open(folder))
        {
            for (var i = 0; i < 1000 && failure is null; i++)
            {
                Random.Shared.NextBytes(data);
                try
                {
                    await store.WriteAsync(Trial, $"s/{i}", null, data);
                    written[$"s/{i}"] = Convert.ToBase64String(data);
                }
                catch (WriteFailedException e)
                {
                    failure = e;
                }
            }
            Assert.NotNull(failure);
            Assert.NotEmpty(written);
            var path = Path.Combine(folder, GrainStateDatabase.FileName);
            Assert.Equal($"cannot write {path}: no space left on device (SQLite: database or disk is full)", failure.Message);
            // Reported to whoever follows the store, and every later write is refused with the same line.
            Assert.True(store.Failed.IsCompletedSuccessfully);
            Assert.Same(failure, await store.Failed);
            Assert.Same(failure, store.Failure);
            var later = await Assert.ThrowsAsync<WriteFailedException>(() => store.WriteAsync(Trial, "s/later", null, new byte[10]));
            Assert.Equal(failure.Message, later.Message);
        }
        // Space again: every write that completed is there, whole; the store takes writes again.
        disk.Resize("8m");
        using (var store = GrainStateDatabase.Open(folder))
        {
            Assert.Equal(written.Count, store.Count);
            foreach (var (id, bytes) in written)
            {
                Assert.True(store.TryRead(Trial, id, out _, out var read), id);
                Assert.Equal(bytes, Convert.ToBase64String(read.Span));
            }
            await store.WriteAsync(Trial, "s/after", null, new byte[10]);
            Assert.Null(store.Failure);
        }
    }

    [Fact]
    public void A_store_on_a_read_only_file_system_is_refused_naming_its_folder()
    {
        using var disk = SmallDisk.Mount("64k", readOnly: true);
        var folder = Path.Combine(disk.Path, "sweep", "state");
        var refused = Assert.Throws<WriteFailedException>(() => GrainStateDatabase.Open(folder));
        Assert.Equal($"cannot write {folder}: read-only file system", refused.Message);
    }

    [Fact]
    public async Task A_store_whose_folder_was_removed_fails_its_next_write_instead_of_writing_into_a_vanished_file()
    {
        var folder = Path.Combine(GridFiles.Folder(), "state");
        using var store = GrainStateDatabase.Open(folder);
        await store.WriteAsync(Trial, "s/1", null, new byte[10]);
        Assert.False(store.Failed.IsCompleted);
        Directory.Delete(folder, recursive: true);
        var failure = await Assert.ThrowsAsync<WriteFailedException>(() => store.WriteAsync(Trial, "s/2", null, new byte[10]));
        Assert.Equal($"cannot write {Path.Combine(folder, GrainStateDatabase.FileName)}: the file was removed while the store was open (its folder deleted?)", failure.Message);
        Assert.Same(failure, await store.Failed.WaitAsync(TimeSpan.FromSeconds(5)));
    }
}
