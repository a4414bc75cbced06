using Orleans.Serialization;
using Orleans.Storage;

namespace Descent.Grains.Sweeps;

/// <summary>
/// How every piece of sweep state is written to grain storage (Redis, the embedded silo's local store): an explicit,
/// versioned format rather than whatever a storage provider defaults to. A record is
/// <c>"DSC" | format version (1 byte) | Orleans' binary encoding of the state</c>. Version 1's body is Orleans'
/// version-tolerant serializer of the state classes' numbered fields (<c>[Id(n)]</c>): types are written by their
/// <c>[Alias]</c> or Orleans' well-known ids, never by CLR type names, so renaming or moving a class does not make
/// stored sweeps unreadable, and fields may be added (readers skip unknown ids, missing ones keep their defaults).
/// A record of a newer format version is refused with <see cref="StateFormatException"/> rather than misread.
/// </summary>
public sealed class StateSerializer(Serializer serializer) : IGrainStorageSerializer
{
    /// <summary>The format this silo writes, and the newest it reads.</summary>
    public const byte Version = 1;

    static ReadOnlySpan<byte> Magic => "DSC"u8;
    const int HeaderLength = 4;

    public BinaryData Serialize<T>(T? input)
    {
        var body = serializer.SerializeToArray(input);
        var record = new byte[HeaderLength + body.Length];
        Magic.CopyTo(record);
        record[3] = Version;
        body.CopyTo(record.AsSpan(HeaderLength));
        return new BinaryData(record);
    }

    /// <exception cref="StateFormatException">The record is not in this format, or of a newer version.</exception>
    public T? Deserialize<T>(BinaryData input)
    {
        var record = input.ToMemory();
        if (record.Length < HeaderLength || !record.Span[..3].SequenceEqual(Magic))
            throw new StateFormatException($"stored {typeof(T).Name} is not in Descent's state format (no \"DSC\" header; {record.Length} bytes)");
        var version = record.Span[3];
        if (version != Version)
            throw new StateFormatException(
                $"stored {typeof(T).Name} is in state format version {version}; this silo reads version {Version} (upgrade the silo)");
        return serializer.Deserialize<T>(record[HeaderLength..]);
    }

    /// <summary>The format version of a stored record, or null when it is not one of Descent's.</summary>
    public static int? VersionOf(ReadOnlySpan<byte> record) =>
        record.Length >= HeaderLength && record[..3].SequenceEqual(Magic) ? record[3] : null;
}

/// <summary>Stored sweep state this silo cannot read: the message says why (not Descent's format, or a newer version).</summary>
public sealed class StateFormatException(string message) : Exception(message);
