namespace Descent.Client.Output;

/// <summary>Files written under a temporary name and renamed, so a reader never sees half a file, and a write that
/// fails (a full disk) or a stop leaves nothing half-written behind.</summary>
public static class AtomicFile
{
    /// <summary>Calls <paramref name="write"/> with a temporary path beside <paramref name="path"/> (same extension,
    /// for writers that go by it), then renames it to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<string> write)
    {
        var temporary = Path.ChangeExtension(path, ".tmp" + Path.GetExtension(path));
        try
        {
            write(temporary);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
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
