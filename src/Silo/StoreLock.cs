namespace Descent.Silo;

/// <summary>
/// The one-process-at-a-time rule of a grain store's folder: its <see cref="LockName"/> file held exclusively
/// (<c>flock</c>, released by the kernel however the process ends) while the store is open, and <see cref="OwnerName"/>
/// naming the process holding it, so that a refusal can say who.
/// <para>Not SQLite's own locking (<c>locking_mode=EXCLUSIVE</c>): its POSIX locks belong to a process, so a second open
/// in the same process is not refused by the kernel, a busy database makes the opener wait and then says only
/// "database is locked", without the holder.</para>
/// </summary>
public sealed class StoreLock : IDisposable
{
    public const string LockName = "lock";
    public const string OwnerName = "owner";

    readonly FileStream _file;

    StoreLock(FileStream file) => _file = file;

    // What .NET reports when the lock is taken: flock's EWOULDBLOCK as the HResult on Unix, a sharing violation on Windows.
    const int EWouldBlockLinux = 11, EWouldBlockMac = 35, SharingViolation = unchecked((int)0x80070020);

    /// <summary>Takes <paramref name="folder"/> (an absolute path to an existing folder) for this process and writes its
    /// pid in the owner file. Throws <see cref="StoreLockedException"/> when another process (or another lock in this
    /// one) holds it, <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> when the folder cannot be
    /// used.</summary>
    public static StoreLock Take(string folder)
    {
        FileStream file;
        try
        {
            // FileShare.None is an exclusive flock on Unix: released by the kernel when the process ends, however it ends.
            file = new FileStream(Path.Combine(folder, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e.HResult is EWouldBlockLinux or EWouldBlockMac or SharingViolation)
        {
            int? pid = int.TryParse(TryRead(Path.Combine(folder, OwnerName)), out var owner) ? owner : null;
            throw new StoreLockedException(folder, pid, e);
        }
        try
        {
            File.WriteAllText(Path.Combine(folder, OwnerName), $"{Environment.ProcessId}\n");
            return new StoreLock(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Releases the folder.</summary>
    public void Dispose() => _file.Dispose();
}

/// <summary>A grain store's folder is held by another process (or another open store in this one).</summary>
/// <param name="Pid">The process holding it, as it wrote in the folder's owner file; null when unknown.</param>
public sealed class StoreLockedException(string folder, int? pid, Exception inner)
    : IOException($"the grain store in {folder} is in use by another process{(pid is { } p ? $" (pid {p})" : "")}", inner)
{
    public string Folder { get; } = folder;
    public int? Pid { get; } = pid;
}

/// <summary>A grain store's file is not one, or was written in another <see cref="GrainStateDatabase.FormatVersion"/>.</summary>
public sealed class StoreFormatException(string path, string message, Exception? inner = null) : IOException(message, inner)
{
    public string Path { get; } = path;
}
