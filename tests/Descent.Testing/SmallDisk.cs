using System.Diagnostics;

namespace Descent.Testing;

/// <summary>
/// A small file system of its own (tmpfs, <c>mount -t tmpfs -o size=N</c>) on a new folder under the temporary
/// directory, so that writes meet a real full disk (ENOSPC) or a read-only one (EROFS); unmounted and removed on
/// dispose. Needs root (CI runs as root); <see cref="Mount"/> throws naming why when the mount is refused.
/// </summary>
public sealed class SmallDisk : IDisposable
{
    SmallDisk(string path) => Path = path;

    /// <summary>The mounted folder (absolute).</summary>
    public string Path { get; }

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (mount's syntax: <c>256k</c>, <c>4m</c>), read-only with
    /// <paramref name="readOnly"/>. Throws <see cref="InvalidOperationException"/> with mount's own error when it cannot
    /// (not root, no mount).</summary>
    public static SmallDisk Mount(string size, bool readOnly = false)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "descent-small-disk", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        var (ok, error) = Run("mount", "-t", "tmpfs", "-o", $"size={size}{(readOnly ? ",ro" : "")}", "tmpfs", path);
        if (ok) return new SmallDisk(path);
        Directory.Delete(path);
        throw new InvalidOperationException($"these tests need a small tmpfs, and `mount -t tmpfs -o size={size} tmpfs {path}` failed "
            + $"({error.Trim()}): run them as root (CI does)");
    }

    /// <summary>Gives the file system <paramref name="size"/> (more room: the disk that was full has space again).</summary>
    public void Resize(string size)
    {
        var (ok, error) = Run("mount", "-o", $"remount,size={size}", Path);
        if (!ok) throw new InvalidOperationException($"remount of {Path} to size {size} failed: {error.Trim()}");
    }

    static (bool Ok, string Error) Run(string program, params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var arg in args) start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode == 0, error);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, e.Message);
        }
    }

    public void Dispose()
    {
        // Lazy: a process that still has a file open there (a killed client's) does not keep the mount.
        Run("umount", "-l", Path);
        try { Directory.Delete(Path); } catch (IOException) { }
    }
}
