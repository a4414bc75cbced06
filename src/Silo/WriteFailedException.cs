using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Descent.Silo;

/// <summary>
/// A file that could not be written: the local grain store's database, or a result file of the client. Its message is
/// the one line users see, <c>cannot write /runs/x/results.json: no space left on device</c>: the file (absolute or as
/// given) and the cause in the operating system's words (<c>strerror</c> of the error number .NET or SQLite report).
/// </summary>
public sealed class WriteFailedException(string path, string cause, Exception? inner = null)
    : IOException($"cannot write {path}: {cause}", inner)
{
    /// <summary>The file (or folder) that could not be written.</summary>
    public string Path { get; } = path;

    /// <summary>Why, in a few words: <c>no space left on device</c>, <c>read-only file system</c>, ...</summary>
    public string Cause { get; } = cause;

    /// <summary><paramref name="failure"/> as the failure to write <paramref name="path"/>; a
    /// <see cref="WriteFailedException"/> is returned as it is (it already names its file).</summary>
    public static WriteFailedException Of(string path, Exception failure) =>
        failure as WriteFailedException ?? new WriteFailedException(path, CauseOf(failure), failure);

    // SQLite's primary result codes (https://sqlite.org/rescode.html).
    const int SqliteReadOnly = 8, SqliteIoError = 10, SqliteFull = 13, SqliteCantOpen = 14;

    /// <summary>The cause of a failed write in a few words: the error number's text (<c>strerror</c>) when .NET kept it
    /// (an <see cref="IOException"/> on Linux and macOS carries errno as its HResult), else what the exception's type
    /// says (<see cref="UnauthorizedAccessException"/>: permission denied; a missing folder), else its message.</summary>
    public static string CauseOf(Exception failure) => failure switch
    {
        WriteFailedException written => written.Cause,
        DirectoryNotFoundException or FileNotFoundException => "its folder no longer exists (removed while it was in use?)",
        UnauthorizedAccessException => "permission denied",
        SqliteException { SqliteErrorCode: SqliteFull } => "no space left on device (SQLite: database or disk is full)",
        SqliteException { SqliteErrorCode: SqliteReadOnly } => "the database cannot be written (read-only file system, or no write permission)",
        SqliteException { SqliteErrorCode: SqliteIoError or SqliteCantOpen } sqlite => $"input/output error ({sqlite.Message.TrimEnd('.')})",
        IOException { HResult: > 0 and < 4096 } io when !OperatingSystem.IsWindows() => Errno(io.HResult),
        _ => failure.Message.TrimEnd('.'),
    };

    /// <summary>The text of error number <paramref name="errno"/> (<c>strerror</c>), starting lower case:
    /// <c>no space left on device</c>.</summary>
    public static string Errno(int errno)
    {
        var text = Marshal.GetPInvokeErrorMessage(errno);
        return text.Length > 1 && char.IsUpper(text[0]) && char.IsLower(text[1]) ? char.ToLowerInvariant(text[0]) + text[1..] : text;
    }
}
