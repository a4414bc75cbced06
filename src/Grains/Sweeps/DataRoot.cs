using System.Runtime.InteropServices;
using Descent.Contracts.Trials;

namespace Descent.Grains.Sweeps;

/// <summary>Where a silo may read task data: silo setting <c>Descent:DataRoot</c>.</summary>
public sealed class DataRootOptions
{
    /// <summary>The folder under which CSV tasks' files must lie (symbolic links resolved); null: this silo reads no
    /// task files, and CSV tasks fail naming the setting. The client's embedded silo uses <c>/</c>: on a laptop the
    /// files are the user's own.</summary>
    public string? Root { get; set; }
}

/// <summary>
/// The data-root check a silo makes before a CSV task opens its file: a cluster is reachable by more than its owner,
/// and without it any file the silo can read would leak through the task's error messages (a header quoted as its
/// columns, a cell quoted as a bad number). Refusals name the path and the root, never a byte of the file.
/// </summary>
public static class DataRoot
{
    /// <summary>Null when <paramref name="task"/> may be read under <paramref name="root"/>, else why not.</summary>
    public static string? Problem(TaskSpec task, string? root) => task is CsvTaskSpec csv ? Problem(csv.Path, root) : null;

    /// <summary>Null when <paramref name="path"/> is a file under <paramref name="root"/> after every symbolic link is
    /// resolved; else the reason, naming the path (the file is not opened).</summary>
    public static string? Problem(string path, string? root)
    {
        if (string.IsNullOrWhiteSpace(root))
            return $"task.path = \"{path}\": this silo reads no task files; its operator sets Descent:DataRoot to the folder that holds them";
        if (!Path.IsPathFullyQualified(path))
            return $"task.path = \"{path}\": must be an absolute path under the data root {root}";
        if (path.Split('/', '\\').Contains(".."))
            return $"task.path = \"{path}\": must not contain \"..\"; give the path under the data root {root} as it is";
        var realRoot = RealPath(root);
        if (realRoot is null) return $"task.path = \"{path}\": the data root {root} does not exist on this silo";
        if (!File.Exists(path)) return $"task.path = \"{path}\": no such file on this silo";
        var real = RealPath(path);
        if (real is null) return $"task.path = \"{path}\": no such file on this silo";
        var under = realRoot == "/" ? real.StartsWith('/') : real.StartsWith(realRoot.TrimEnd('/') + "/", StringComparison.Ordinal);
        if (!under)
            return real == Path.GetFullPath(path)
                ? $"task.path = \"{path}\": is outside the data root {root}"
                : $"task.path = \"{path}\": leads outside the data root {root} through a symbolic link";
        return null;
    }

    /// <summary>The path with every symbolic link resolved (POSIX realpath), or null when it does not exist.</summary>
    static string? RealPath(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return File.Exists(path) || Directory.Exists(path) ? Path.GetFullPath(path) : null;
        var resolved = realpath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero) return null;
        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            free(resolved);
        }
    }

    [DllImport("libc", SetLastError = true)]
    static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc")]
    static extern void free(IntPtr pointer);
}
