using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Orleans.Storage;

namespace Descent.Silo;

/// <summary>
/// A folder of this machine holding grain states as an append-only log (<see cref="FileName"/>), replayed into an
/// in-memory index when it is opened: reads never touch the disk, and a write is one record appended with one
/// <c>write()</c>, so a process killed at any moment (SIGKILL) loses nothing that was written. A write completes once
/// its record is on the disk (<c>fsync</c>): writes that arrive while a flush is under way share the next one (group
/// commit), so a power loss loses no completed write either, at the cost of about one flush per burst of writes.
/// <para>Each record is its length, a CRC-32 of its body, and the body: a kind (write or clear), a sequence number
/// (the state's ETag), the key and the serialized state. A record cut short by a kill or a power loss is the last one,
/// fails its length or checksum, and is dropped (with anything after it) when the log is opened. A log grown past
/// twice its live records is rewritten with the live ones (compaction) when it is opened.</para>
/// <para>One process at a time: the folder's <see cref="LockName"/> file is held exclusively while the log is open,
/// and <see cref="OwnerName"/> names the process holding it.</para>
/// </summary>
public sealed class GrainStateLog : IDisposable
{
    public const string FileName = "grains.log";
    public const string LockName = "lock";
    public const string OwnerName = "owner";

    /// <summary>The log's format: its header, its records' framing. Another version is refused with
    /// <see cref="StoreFormatException"/>.</summary>
    public const int FormatVersion = 1;

    static readonly byte[] Magic = "descent grains\r\n"u8.ToArray();
    static readonly int HeaderSize = Magic.Length + sizeof(int);
    const int FrameSize = 2 * sizeof(int); // length, checksum
    const int BodyFixedSize = 1 + sizeof(long) + sizeof(int); // kind, sequence, key length
    const int MaxBody = 1 << 30;
    /// <summary>Compaction on open when the log is past this size (bytes) and twice its live records.</summary>
    const long CompactFrom = 1 << 20;

    const byte Write = 1, Clear = 2;

    /// <summary>A live state: its sequence number (ETag), serialized bytes and the size of its record in the log.</summary>
    readonly record struct Entry(long Sequence, ReadOnlyMemory<byte> Data, int RecordSize);

    readonly Lock _lock = new();
    readonly Dictionary<string, Entry> _index;
    readonly FileStream _lockFile;
    readonly SafeFileHandle _log;
    readonly List<(long End, TaskCompletionSource Done)> _waiting = [];
    long _length, _durable, _next, _live, _flushes;
    bool _flushing, _closed;
    Exception? _failure;

    GrainStateLog(string folder, FileStream lockFile, SafeFileHandle log, Dictionary<string, Entry> index, long length, long next, long live)
    {
        Folder = folder;
        (_lockFile, _log, _index, _length, _durable, _next, _live) = (lockFile, log, index, length, length, next, live);
    }

    /// <summary>The store's folder (absolute).</summary>
    public string Folder { get; }

    /// <summary>The log's size in bytes.</summary>
    public long Length { get { lock (_lock) return _length; } }

    /// <summary>The size in bytes of the records of live states (what compaction would keep, without the header).</summary>
    public long LiveBytes { get { lock (_lock) return _live; } }

    /// <summary>How many states the store holds.</summary>
    public int Count { get { lock (_lock) return _index.Count; } }

    /// <summary>Flushes to the disk so far (each may have covered many writes).</summary>
    public long Flushes { get { lock (_lock) return _flushes; } }

    /// <summary>Opens the store in <paramref name="folder"/> (an absolute path; created when missing, with an empty log),
    /// replays its log, drops a torn last record and compacts the log when it is much larger than its live records.
    /// Throws <see cref="StoreLockedException"/> when another process (or another open log) holds the folder,
    /// <see cref="StoreFormatException"/> when the log is not one or was written in another <see cref="FormatVersion"/>,
    /// <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> when the folder cannot be used.</summary>
    public static GrainStateLog Open(string folder)
    {
        folder = Path.GetFullPath(folder);
        // Folders made here (the store's, and those above it that were missing) are recorded in their parents durably.
        var made = new List<string>();
        for (var f = folder; f is not null && !Directory.Exists(f); f = Path.GetDirectoryName(f)) made.Add(f);
        Directory.CreateDirectory(folder);
        foreach (var f in Enumerable.Reverse(made)) SyncDirectory(Path.GetDirectoryName(f));
        var lockFile = Lock(folder);
        try
        {
            File.WriteAllText(Path.Combine(folder, OwnerName), $"{Environment.ProcessId}\n");
            var path = Path.Combine(folder, FileName);
            if (!File.Exists(path)) Create(path, []);
            var (index, valid, next, live, length) = Replay(path);
            if (valid < length)
            {
                // The last record was cut short: the next append must follow the last whole one.
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
                RandomAccess.SetLength(handle, valid);
                RandomAccess.FlushToDisk(handle);
            }
            if (valid > CompactFrom && valid - HeaderSize > 2 * live)
            {
                Create(path, index.OrderBy(e => e.Value.Sequence).Select(e => Encode(Write, e.Value.Sequence, e.Key, e.Value.Data.Span)));
                valid = HeaderSize + live;
            }
            var log = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            return new GrainStateLog(folder, lockFile, log, index, valid, next, live);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    // What .NET reports when the lock is taken: flock's EWOULDBLOCK as the HResult on Unix, a sharing violation on Windows.
    const int EWouldBlockLinux = 11, EWouldBlockMac = 35, SharingViolation = unchecked((int)0x80070020);

    static FileStream Lock(string folder)
    {
        var path = Path.Combine(folder, LockName);
        try
        {
            // FileShare.None is an exclusive flock on Unix: released by the kernel when the process ends, however it ends.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e.HResult is EWouldBlockLinux or EWouldBlockMac or SharingViolation)
        {
            int? pid = int.TryParse(TryRead(Path.Combine(folder, OwnerName)), out var owner) ? owner : null;
            throw new StoreLockedException(folder, pid, e);
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

    /// <summary>Writes a log of <paramref name="records"/> under a temporary name, flushes it and renames it to
    /// <paramref name="path"/>, so that a kill leaves either the old log or the new one.</summary>
    static void Create(string path, IEnumerable<byte[]> records)
    {
        var temporary = path + ".new";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            file.Write(Magic);
            Span<byte> version = stackalloc byte[sizeof(int)];
            BinaryPrimitives.WriteInt32LittleEndian(version, FormatVersion);
            file.Write(version);
            foreach (var record in records) file.Write(record);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(path));
    }

    /// <summary>Reads the log: the live states, where its whole records end, the next sequence number, the live records'
    /// size and the file's length.</summary>
    static (Dictionary<string, Entry> Index, long Valid, long Next, long Live, long Length) Replay(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var length = file.Length;
        var header = new byte[HeaderSize];
        if (file.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false) < HeaderSize || !header.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new StoreFormatException(path, $"{path} is not a Descent grain store (its first bytes are not a store's header)");
        var version = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(Magic.Length));
        if (version != FormatVersion)
            throw new StoreFormatException(path, $"{path} was written in store format version {version}; this program reads version {FormatVersion}");
        var index = new Dictionary<string, Entry>(StringComparer.Ordinal);
        long valid = HeaderSize, next = 1, live = 0;
        var frame = new byte[FrameSize];
        while (true)
        {
            if (file.ReadAtLeast(frame, FrameSize, throwOnEndOfStream: false) < FrameSize) break;
            var size = BinaryPrimitives.ReadInt32LittleEndian(frame);
            if (size is < BodyFixedSize or > MaxBody || valid + FrameSize + size > length) break;
            var body = new byte[size];
            if (file.ReadAtLeast(body, size, throwOnEndOfStream: false) < size) break;
            if (Crc32.HashToUInt32(body) != BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(sizeof(int)))) break;
            var kind = body[0];
            var sequence = BinaryPrimitives.ReadInt64LittleEndian(body.AsSpan(1));
            var keyLength = BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(1 + sizeof(long)));
            if (kind is not (Write or Clear) || keyLength < 0 || keyLength > size - BodyFixedSize) break;
            var key = Encoding.UTF8.GetString(body, BodyFixedSize, keyLength);
            if (index.Remove(key, out var old)) live -= old.RecordSize;
            if (kind == Write)
            {
                index[key] = new Entry(sequence, body.AsMemory(BodyFixedSize + keyLength), FrameSize + size);
                live += FrameSize + size;
            }
            next = Math.Max(next, sequence + 1);
            valid += FrameSize + size;
        }
        return (index, valid, next, live, length);
    }

    static byte[] Encode(byte kind, long sequence, string key, ReadOnlySpan<byte> data)
    {
        var keyLength = Encoding.UTF8.GetByteCount(key);
        var size = BodyFixedSize + keyLength + data.Length;
        if (size > MaxBody) throw new ArgumentException($"grain state {key}: {data.Length} bytes, more than a store record holds ({MaxBody} bytes)");
        var record = new byte[FrameSize + size];
        var body = record.AsSpan(FrameSize);
        body[0] = kind;
        BinaryPrimitives.WriteInt64LittleEndian(body[1..], sequence);
        BinaryPrimitives.WriteInt32LittleEndian(body[(1 + sizeof(long))..], keyLength);
        Encoding.UTF8.GetBytes(key, body.Slice(BodyFixedSize, keyLength));
        data.CopyTo(body[(BodyFixedSize + keyLength)..]);
        BinaryPrimitives.WriteInt32LittleEndian(record, size);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(sizeof(int)), Crc32.HashToUInt32(body));
        return record;
    }

    /// <summary>The state stored under <paramref name="key"/>: its ETag and serialized bytes; false when there is none.</summary>
    public bool TryRead(string key, out string? etag, out ReadOnlyMemory<byte> data)
    {
        lock (_lock)
        {
            if (_index.TryGetValue(key, out var entry))
            {
                (etag, data) = (ETag(entry.Sequence), entry.Data);
                return true;
            }
        }
        (etag, data) = (null, default);
        return false;
    }

    /// <summary>Stores <paramref name="data"/> under <paramref name="key"/> if the stored state's ETag is
    /// <paramref name="etag"/> (null or empty: no state is stored); completes with the new ETag once the record is on
    /// the disk. Throws <see cref="InconsistentStateException"/> on another ETag, <see cref="IOException"/> when the
    /// log cannot be written or flushed (the store then refuses every later write), <see cref="ObjectDisposedException"/>
    /// once it is closed.</summary>
    public Task<string> WriteAsync(string key, string? etag, ReadOnlyMemory<byte> data) => Append(Write, key, etag, data);

    /// <summary>Removes the state stored under <paramref name="key"/> under the same ETag rule as
    /// <see cref="WriteAsync"/>; completes once the removal is on the disk.</summary>
    public Task ClearAsync(string key, string? etag) => Append(Clear, key, etag, default);

    async Task<string> Append(byte kind, string key, string? etag, ReadOnlyMemory<byte> data)
    {
        long end, sequence;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_failure is not null) throw new IOException($"the grain store in {Folder} failed earlier and takes no more writes: {_failure.Message}", _failure);
            var stored = _index.TryGetValue(key, out var current) ? ETag(current.Sequence) : null;
            if (stored != (string.IsNullOrEmpty(etag) ? null : etag))
                throw new InconsistentStateException($"grain state {key}: written with ETag {etag ?? "(none)"}, but the store holds {stored ?? "no state"}",
                    stored ?? "", etag ?? "");
            sequence = _next++;
            var record = Encode(kind, sequence, key, data.Span);
            try
            {
                RandomAccess.Write(_log, record, _length);
            }
            catch (Exception e)
            {
                // A record written in part would hide every later one from the next replay: cut it off, or stop writing.
                try { RandomAccess.SetLength(_log, _length); }
                catch (Exception) { _failure = e; }
                throw;
            }
            _length += record.Length;
            end = _length;
            if (current.RecordSize > 0) _live -= current.RecordSize;
            if (kind == Write)
            {
                _index[key] = new Entry(sequence, record.AsMemory(record.Length - data.Length), record.Length);
                _live += record.Length;
            }
            else _index.Remove(key);
        }
        await Durable(end);
        return ETag(sequence);
    }

    static string ETag(long sequence) => sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Completes once the log is on the disk up to <paramref name="end"/>: one flush at a time, and every
    /// write that arrived during a flush waits for the next one, which covers them all (group commit).</summary>
    Task Durable(long end)
    {
        TaskCompletionSource done;
        lock (_lock)
        {
            if (_durable >= end) return Task.CompletedTask;
            if (_closed) return Task.FromException(new ObjectDisposedException(nameof(GrainStateLog)));
            if (_failure is not null) return Task.FromException(new IOException($"the grain store in {Folder} could not be flushed to the disk: {_failure.Message}", _failure));
            done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add((end, done));
            if (_flushing) return done.Task;
            _flushing = true;
        }
        // Off the caller's thread: an fsync blocks for its whole duration.
        ThreadPool.UnsafeQueueUserWorkItem(static log => log.Flush(), this, preferLocal: false);
        return done.Task;
    }

    void Flush()
    {
        while (true)
        {
            long target;
            lock (_lock) target = _length;
            Exception? error = null;
            try
            {
                RandomAccess.FlushToDisk(_log);
            }
            catch (Exception e)
            {
                error = e;
            }
            List<TaskCompletionSource> done = [];
            bool more;
            lock (_lock)
            {
                _flushes++;
                if (error is null) _durable = Math.Max(_durable, target);
                else _failure ??= error;
                for (var i = _waiting.Count - 1; i >= 0; i--)
                {
                    if (error is null && _waiting[i].End > target) continue;
                    done.Add(_waiting[i].Done);
                    _waiting.RemoveAt(i);
                }
                more = _waiting.Count > 0;
                if (!more) _flushing = false;
            }
            foreach (var waiter in done)
            {
                if (error is null) waiter.SetResult();
                else waiter.SetException(new IOException($"the grain store in {Folder} could not be flushed to the disk: {error.Message}", error));
            }
            if (!more) return;
        }
    }

    /// <summary>Flushes what was written, closes the log and releases the folder. Writes that come later throw
    /// <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
        }
        // A flush under way completes its writers first (it holds no lock while flushing).
        SpinWait.SpinUntil(() => { lock (_lock) return !_flushing; });
        try
        {
            if (_failure is null && _durable < _length) RandomAccess.FlushToDisk(_log);
        }
        finally
        {
            _log.Dispose();
            _lockFile.Dispose();
        }
    }

    /// <summary>Makes a directory's entries (a file created or renamed in it) durable; a no-op where directories cannot
    /// be opened (Windows).</summary>
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

/// <summary>A grain store's folder is held by another process (or another open <see cref="GrainStateLog"/>).</summary>
/// <param name="Pid">The process holding it, as it wrote in the folder's owner file; null when unknown.</param>
public sealed class StoreLockedException(string folder, int? pid, Exception inner)
    : IOException($"the grain store in {folder} is in use by another process{(pid is { } p ? $" (pid {p})" : "")}", inner)
{
    public string Folder { get; } = folder;
    public int? Pid { get; } = pid;
}

/// <summary>A grain store's log is not one, or was written in another <see cref="GrainStateLog.FormatVersion"/>.</summary>
public sealed class StoreFormatException(string path, string message) : IOException(message)
{
    public string Path { get; } = path;
}
