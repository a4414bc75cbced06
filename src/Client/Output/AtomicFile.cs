namespace Descent.Client.Output;

/// <summary>Files written under a temporary name and renamed, so a reader never sees half a file, and a write that
/// fails (a full disk) or a stop leaves nothing half-written behind.</summary>
public static class AtomicFile
{
    /// <summary>Calls <paramref name="write"/> with a temporary path beside <paramref name="path"/> (same extension,
    /// for writers that go by it), then renames it to <paramref name="path"/>. Throws
    /// <see cref="Descent.Silo.WriteFailedException"/> naming <paramref name="path"/> and the cause when the file cannot
    /// be written (a full disk, a read-only file system, its folder removed); <paramref name="path"/> is then as it was.</summary>
    public static void Write(string path, Action<string> write)
    {
        var temporary = Path.ChangeExtension(path, ".tmp" + Path.GetExtension(path));
        try
        {
            write(temporary);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Descent.Silo.WriteFailedException.Of(path, e);
        }
        finally
        {
            try
            {
                if (File.Exists(temporary)) File.Delete(temporary);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the failure above says why */ }
        }
    }

    /// <summary>The same, for a writer of a stream; the data reach the disk before the rename.</summary>
    public static void Write(string path, Action<Stream> write) => Write(path, (string temporary) =>
    {
        using var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write);
        write(stream);
        stream.Flush(flushToDisk: true);
    });
}
