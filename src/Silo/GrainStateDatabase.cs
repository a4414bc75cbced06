using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Orleans.Storage;

namespace Descent.Silo;

/// <summary>
/// A folder of this machine holding grain states in an SQLite database (<see cref="FileName"/>; Microsoft.Data.Sqlite
/// over SQLitePCLRaw's bundled SQLite): one row per state, keyed by state name and grain id, holding the serialized
/// state and its ETag. Write-ahead log, <c>synchronous=FULL</c>: a write completes once its transaction's commit is
/// on the disk (<c>fsync</c> of the WAL), so neither a SIGKILL nor a power loss loses a completed write, and SQLite
/// recovers from a commit cut short when the database is next opened. Writes that arrive while a commit is under way
/// share the next transaction (group commit), one commit per burst of writes rather than one per write.
/// <para><c>PRAGMA user_version</c> is the store's <see cref="FormatVersion"/>. One process at a time: the folder is
/// held with a <see cref="StoreLock"/> while the store is open.</para>
/// </summary>
public sealed class GrainStateDatabase : IDisposable
{
    public const string FileName = "grains.db";

    /// <summary>The store of format version 1, an append-only log that this version no longer reads.</summary>
    public const string LogFileName = "grains.log";

    /// <summary>The database's schema (<c>PRAGMA user_version</c>). Another version is refused with
    /// <see cref="StoreFormatException"/>; 1 was the append-only log (<see cref="LogFileName"/>).</summary>
    public const int FormatVersion = 2;

    const string Schema = """
        CREATE TABLE grain_state (
            state_name TEXT NOT NULL,
            grain_id TEXT NOT NULL,
            etag INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (state_name, grain_id)
        ) WITHOUT ROWID
        """;

    // SQLite's result codes for a file that is not a database, or one whose pages are damaged.
    const int SqliteCorrupt = 11, SqliteNotADatabase = 26;

    /// <summary>A write (Data set) or a clear (Data null) waiting for its transaction.</summary>
    sealed record Change(string Name, string Id, string? ETag, ReadOnlyMemory<byte>? Data)
    {
        public TaskCompletionSource<string> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    readonly StoreLock _folderLock;
    // The writer is used by one commit at a time; reads have a connection of their own (WAL: they never wait for a commit).
    readonly SqliteConnection _writer, _reader;
    readonly SqliteCommand _insert, _update, _delete, _absent, _stored, _read;
    readonly Lock _lock = new(), _readLock = new();
    List<Change> _pending = [];
    long _next, _commits;
    bool _committing, _closed;
    WriteFailedException? _failure;
    readonly TaskCompletionSource<WriteFailedException> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    GrainStateDatabase(string folder, StoreLock folderLock, SqliteConnection writer, SqliteConnection reader, long next)
    {
        Folder = folder;
        (_folderLock, _writer, _reader, _next) = (folderLock, writer, reader, next);
        _insert = Command(writer, "INSERT INTO grain_state VALUES ($name, $id, $etag, $data) ON CONFLICT DO NOTHING");
        _update = Command(writer, "UPDATE grain_state SET etag = $etag, data = $data WHERE state_name = $name AND grain_id = $id AND etag = $expected");
        _delete = Command(writer, "DELETE FROM grain_state WHERE state_name = $name AND grain_id = $id AND etag = $expected");
        _absent = Command(writer, "SELECT NOT EXISTS (SELECT 1 FROM grain_state WHERE state_name = $name AND grain_id = $id)");
        _stored = Command(writer, "SELECT etag FROM grain_state WHERE state_name = $name AND grain_id = $id");
        _read = Command(reader, "SELECT etag, data FROM grain_state WHERE state_name = $name AND grain_id = $id");
    }

    /// <summary>The store's folder (absolute).</summary>
    public string Folder { get; }

    /// <summary>The database file (absolute): <see cref="Folder"/>/<see cref="FileName"/>.</summary>
    public string Path => System.IO.Path.Combine(Folder, FileName);

    /// <summary>The write that failed (a full disk, a read-only file system, the file removed), after which the store
    /// takes no more writes; null while it writes. Its message is one line naming the file and the cause.</summary>
    public WriteFailedException? Failure { get { lock (_lock) return _failure; } }

    /// <summary>Completes with <see cref="Failure"/> when a write fails; never otherwise.</summary>
    public Task<WriteFailedException> Failed => _failed.Task;

    /// <summary>Transactions committed so far (each may have carried many writes).</summary>
    public long Commits { get { lock (_lock) return _commits; } }

    /// <summary>How many states the store holds.</summary>
    public int Count
    {
        get
        {
            lock (_readLock)
            {
                ObjectDisposedException.ThrowIf(_closed, this);
                using var count = Command(_reader, "SELECT count(*) FROM grain_state");
                return Convert.ToInt32(count.ExecuteScalar(), CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>Opens the store in <paramref name="folder"/> (an absolute path; created when missing, with an empty
    /// database). Throws <see cref="StoreLockedException"/> when another process (or another open store) holds the
    /// folder, <see cref="StoreFormatException"/> when its file is not a Descent grain store or was written in another
    /// <see cref="FormatVersion"/> (the file is left as it was), <see cref="IOException"/> or
    /// <see cref="UnauthorizedAccessException"/> when the folder cannot be used.</summary>
    public static GrainStateDatabase Open(string folder)
    {
        folder = System.IO.Path.GetFullPath(folder);
        try
        {
            return OpenIn(folder);
        }
        catch (Exception e) when (e is (IOException or UnauthorizedAccessException or SqliteException) and not (StoreLockedException or StoreFormatException))
        {
            throw WriteFailedException.Of(e is SqliteException ? System.IO.Path.Combine(folder, FileName) : folder, e);
        }
    }

    static GrainStateDatabase OpenIn(string folder)
    {
        // Folders made here (the store's, and those above it that were missing) are recorded in their parents durably.
        var made = new List<string>();
        for (var f = folder; f is not null && !Directory.Exists(f); f = System.IO.Path.GetDirectoryName(f)) made.Add(f);
        Directory.CreateDirectory(folder);
        foreach (var f in Enumerable.Reverse(made)) SyncDirectory(System.IO.Path.GetDirectoryName(f));
        var folderLock = StoreLock.Take(folder);
        var path = System.IO.Path.Combine(folder, FileName);
        SqliteConnection? writer = null, reader = null;
        try
        {
            var created = !File.Exists(path);
            var log = System.IO.Path.Combine(folder, LogFileName);
            if (created && File.Exists(log))
                throw new StoreFormatException(log, $"{log} was written in store format version 1; this program reads version {FormatVersion} ({path})");
            writer = Connect(path);
            // Checked before anything is written: a refused file is left as it was.
            var version = Scalar(writer, "PRAGMA user_version");
            if (version == 0 && Scalar(writer, "SELECT count(*) FROM sqlite_schema") > 0)
                throw new StoreFormatException(path, $"{path} is not a Descent grain store (an SQLite database of something else)");
            if (version is not 0 and not FormatVersion)
                throw new StoreFormatException(path, $"{path} was written in store format version {version}; this program reads version {FormatVersion}");
            using (var wal = Command(writer, "PRAGMA journal_mode = WAL"))
                if (wal.ExecuteScalar() is not "wal") throw new IOException($"the grain store {path} cannot keep a write-ahead log");
            // FULL: every commit is flushed to the disk before it completes (NORMAL would survive a kill, not a power loss).
            Execute(writer, "PRAGMA synchronous = FULL");
            if (version == 0)
            {
                using var transaction = writer.BeginTransaction();
                Execute(writer, Schema, transaction);
                Execute(writer, $"PRAGMA user_version = {FormatVersion}", transaction);
                transaction.Commit();
            }
            if (created) SyncDirectory(folder);
            // ETags are never reused while a state is stored: the next one follows the highest stored.
            var next = Scalar(writer, "SELECT coalesce(max(etag), 0) + 1 FROM grain_state");
            reader = Connect(path);
            Execute(reader, "PRAGMA query_only = ON");
            return new GrainStateDatabase(folder, folderLock, writer, reader, next);
        }
        catch (Exception e)
        {
            reader?.Dispose();
            writer?.Dispose();
            folderLock.Dispose();
            if (e is SqliteException { SqliteErrorCode: SqliteCorrupt or SqliteNotADatabase } damaged)
                throw new StoreFormatException(path, $"{path} is not a Descent grain store ({damaged.Message.TrimEnd('.')})", damaged);
            throw;
        }
    }

    static SqliteConnection Connect(string path)
    {
        // No pooling: closing the store closes the file (and checkpoints the log into the database).
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        return connection;
    }

    static SqliteCommand Command(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = Command(connection, sql);
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = Command(connection, sql);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>The state stored under (<paramref name="name"/>, <paramref name="id"/>): its ETag and serialized bytes;
    /// false when there is none. Sees every write that has completed.</summary>
    public bool TryRead(string name, string id, out string? etag, out ReadOnlyMemory<byte> data)
    {
        lock (_readLock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            Bind(_read, name, id);
            using var row = _read.ExecuteReader();
            if (row.Read())
            {
                (etag, data) = (ETag(row.GetInt64(0)), row.GetFieldValue<byte[]>(1));
                return true;
            }
        }
        (etag, data) = (null, default);
        return false;
    }

    /// <summary>Stores <paramref name="data"/> under (<paramref name="name"/>, <paramref name="id"/>) if the stored
    /// state's ETag is <paramref name="etag"/> (null or empty: no state is stored); completes with the new ETag once
    /// the write is on the disk. Throws <see cref="InconsistentStateException"/> on another ETag,
    /// <see cref="WriteFailedException"/> when the database cannot be written (the store then refuses every later write
    /// with it, <see cref="Failure"/>),
    /// <see cref="ObjectDisposedException"/> once it is closed.</summary>
    public Task<string> WriteAsync(string name, string id, string? etag, ReadOnlyMemory<byte> data) => Enqueue(new Change(name, id, etag, data));

    /// <summary>Removes the state stored under (<paramref name="name"/>, <paramref name="id"/>) under the same ETag
    /// rule as <see cref="WriteAsync"/>; completes once the removal is on the disk.</summary>
    public Task ClearAsync(string name, string id, string? etag) => Enqueue(new Change(name, id, etag, null));

    Task<string> Enqueue(Change change)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_failure is not null) throw _failure;
            _pending.Add(change);
            if (_committing) return change.Done.Task;
            _committing = true;
        }
        // Off the caller's thread: a commit blocks for its fsync.
        ThreadPool.UnsafeQueueUserWorkItem(static store => store.CommitPending(), this, preferLocal: false);
        return change.Done.Task;
    }

    /// <summary>A failed commit as the write failure users see: the file and the cause.</summary>
    WriteFailedException WriteFailure(Exception failure) => WriteFailedException.Of(Path, failure);

    /// <summary>Commits the waiting changes, one transaction for all that are waiting, until none are: changes that
    /// arrive during a commit wait for the next one (group commit).</summary>
    void CommitPending()
    {
        while (true)
        {
            List<Change> batch;
            lock (_lock)
            {
                if (_pending.Count == 0)
                {
                    _committing = false;
                    return;
                }
                (batch, _pending) = (_pending, []);
            }
            var outcomes = new (string? ETag, InconsistentStateException? Refused)[batch.Count];
            WriteFailedException? failure = null;
            try
            {
                // A database whose file was removed (its folder deleted) takes writes into an unlinked file that
                // vanishes when it is closed: that is a failed write, not a made one.
                if (!File.Exists(Path))
                    throw new WriteFailedException(Path, "the file was removed while the store was open (its folder deleted?)");
                using var transaction = _writer.BeginTransaction();
                foreach (var command in (SqliteCommand[])[_insert, _update, _delete, _absent, _stored]) command.Transaction = transaction;
                for (var i = 0; i < batch.Count; i++) outcomes[i] = Apply(batch[i]);
                transaction.Commit();
            }
            catch (Exception e)
            {
                // Whether a commit whose flush failed reached the disk is unknown: stop writing rather than guess.
                failure = WriteFailure(e);
            }
            List<Change> refused = [];
            lock (_lock)
            {
                if (failure is null) _commits++;
                else
                {
                    _failure ??= failure;
                    (refused, _pending) = (_pending, []);
                }
            }
            if (failure is not null) _failed.TrySetResult(failure);
            for (var i = 0; i < batch.Count; i++)
            {
                if (failure is not null) batch[i].Done.SetException(failure);
                else if (outcomes[i].Refused is { } conflict) batch[i].Done.SetException(conflict);
                else batch[i].Done.SetResult(outcomes[i].ETag!);
            }
            foreach (var change in refused) change.Done.SetException(failure!);
        }
    }

    /// <summary>One change inside the commit's transaction: its new ETag, or the conflict that refused it.</summary>
    (string? ETag, InconsistentStateException? Refused) Apply(Change change)
    {
        var expected = string.IsNullOrEmpty(change.ETag) ? (long?)null
            : long.TryParse(change.ETag, NumberStyles.None, CultureInfo.InvariantCulture, out var e) ? e : -1;
        var etag = _next;
        bool applied;
        if (change.Data is { } data)
        {
            var command = expected is null ? _insert : _update;
            Bind(command, change.Name, change.Id);
            command.Parameters.AddWithValue("$etag", etag);
            command.Parameters.AddWithValue("$data", data.ToArray());
            if (expected is { } old) command.Parameters.AddWithValue("$expected", old);
            applied = command.ExecuteNonQuery() == 1;
        }
        else if (expected is { } old)
        {
            Bind(_delete, change.Name, change.Id);
            _delete.Parameters.AddWithValue("$expected", old);
            applied = _delete.ExecuteNonQuery() == 1;
        }
        else
        {
            // A clear of a state never written: nothing to remove, if nothing is stored.
            Bind(_absent, change.Name, change.Id);
            applied = Convert.ToInt64(_absent.ExecuteScalar(), CultureInfo.InvariantCulture) == 1;
        }
        if (applied)
        {
            if (change.Data is not null) _next++;
            return (change.Data is null ? "" : ETag(etag), null);
        }
        Bind(_stored, change.Name, change.Id);
        var stored = _stored.ExecuteScalar() is long s ? ETag(s) : null;
        return (null, new InconsistentStateException(
            $"grain state {change.Name}/{change.Id}: written with ETag {change.ETag ?? "(none)"}, but the store holds {stored ?? "no state"}",
            stored ?? "", change.ETag ?? ""));
    }

    static void Bind(SqliteCommand command, string name, string id)
    {
        command.Parameters.Clear();
        command.Parameters.AddWithValue("$name", name);
        command.Parameters.AddWithValue("$id", id);
    }

    static string ETag(long sequence) => sequence.ToString(CultureInfo.InvariantCulture);

    /// <summary>Completes the writes under way, closes the database (SQLite moves its log into it) and releases the
    /// folder. Writes that come later throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
        }
        // A commit under way completes its writers first (it holds no lock while committing).
        SpinWait.SpinUntil(() => { lock (_lock) return !_committing; });
        try
        {
            lock (_readLock)
            {
                foreach (var command in (SqliteCommand[])[_insert, _update, _delete, _absent, _stored, _read]) command.Dispose();
                _reader.Dispose();
                _writer.Dispose();
            }
        }
        finally
        {
            _folderLock.Dispose();
        }
    }

    /// <summary>Makes a directory's entries (a file created in it) durable, which SQLite does for its logs but not for
    /// the database file; a no-op where directories cannot be opened (Windows).</summary>
    static void SyncDirectory(string? directory)
    {
        if (directory is null || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return;
        var fd = open(directory, 0); // O_RDONLY
        if (fd < 0) return;
        try
        {
            if (fsync(fd) != 0)
                throw new IOException($"cannot flush folder {directory} to the disk (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = close(fd);
        }
    }

    [DllImport("libc", SetLastError = true)]
    static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    static extern int fsync(int fd);

    [DllImport("libc")]
    static extern int close(int fd);
}
