using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Descent.Contracts.Sweeps;
using Descent.Contracts.Trials;
using Descent.Sweeps;

namespace Descent.Results;

/// <summary>The results model's JSON, generated at compile time: keys in snake_case in declaration order, indented as
/// results.json has it (trials.jsonl writes the same objects on one line each). Every null is written, so that each key
/// is always there, except where a property says otherwise. Reading, a <c>required</c> property or a constructor
/// parameter without a default (a history's <see cref="StepRecord"/>) must be there, and null only where the type allows.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    Converters = [typeof(FiniteNumberConverter), typeof(TimestampConverter), typeof(TrialStatusConverter), typeof(SweepStatusConverter),
        typeof(MetricNameConverter)])]
[JsonSerializable(typeof(ResultsDocument))]
[JsonSerializable(typeof(TrialEntry))]
[JsonSerializable(typeof(JournalHeader))]
public sealed partial class ResultsJsonContext : JsonSerializerContext;

/// <summary>Reads and writes the results model (<see cref="ResultsDocument"/>, the journal's lines). Readers throw
/// <see cref="JsonException"/> for text that is not JSON or not this model (a required key missing, a null where a
/// value is needed, an unknown status or metric).</summary>
public static class ResultsJson
{
    static ResultsJsonContext Context => ResultsJsonContext.Default;

    /// <summary>Writes <c>results.json</c>'s content (indented, no final newline).</summary>
    public static void Write(Stream stream, ResultsDocument document) => JsonSerializer.Serialize(stream, document, Context.ResultsDocument);

    public static ResultsDocument Read(ReadOnlySpan<byte> utf8) =>
        JsonSerializer.Deserialize(utf8, Context.ResultsDocument) ?? throw new JsonException("the file holds null, not a results object");

    /// <summary>A line of <c>trials.jsonl</c>: the header or a trial on one line, newline included.</summary>
    public static byte[] Line(JournalHeader header) => Line(header, Context.JournalHeader);

    /// <inheritdoc cref="Line(JournalHeader)"/>
    public static byte[] Line(TrialEntry trial) => Line(trial, Context.TrialEntry);

    public static JournalHeader ReadHeader(string line) =>
        JsonSerializer.Deserialize(line, Context.JournalHeader) ?? throw new JsonException("null, not a sweep line");

    public static TrialEntry ReadTrial(string line) =>
        JsonSerializer.Deserialize(line, Context.TrialEntry) ?? throw new JsonException("null, not a trial");

    static byte[] Line<T>(T value, JsonTypeInfo<T> type)
    {
        using var buffer = new MemoryStream();
        // A writer of its own: the serializer's indentation applies only to writers it creates.
        using (var json = new Utf8JsonWriter(buffer)) JsonSerializer.Serialize(json, value, type);
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }
}

/// <summary>Numbers that are not finite (a diverged loss, a target never reached) as <c>null</c>: JSON has no NaN or
/// infinity. A <c>double</c> reads <c>null</c> back as NaN; a <c>double?</c> (through this converter) as null.</summary>
sealed class FiniteNumberConverter : JsonConverter<double>
{
    public override bool HandleNull => true;

    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteNullValue();
    }
}

/// <summary>A leaderboard's time or gradients to the target: a present <c>null</c> is a trial that never reached it
/// (infinity); the key is absent (null here) when the sweep ranks by another metric.</summary>
sealed class NeverReachedConverter : JsonConverter<double?>
{
    public override bool HandleNull => true;

    public override double? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? double.PositiveInfinity : reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double? value, JsonSerializerOptions options)
    {
        if (value is { } v && double.IsFinite(v)) writer.WriteNumberValue(v);
        else writer.WriteNullValue();
    }
}

/// <summary>Times in UTC to the millisecond: <c>2025-03-04T05:06:07.089Z</c>.</summary>
sealed class TimestampConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TryGetDateTimeOffset(out var time) ? time : throw new JsonException($"\"{reader.GetString()}\" is not a time such as 2025-03-04T05:06:07.089Z");

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
}

/// <summary>An enum by the name Descent gives its values everywhere else (tables, spans, the command line).</summary>
abstract class NameConverter<T>(Func<T, string> name) : JsonConverter<T> where T : struct, Enum
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        foreach (var value in Enum.GetValues<T>())
            if (name(value) == text) return value;
        throw new JsonException($"\"{text}\" is not one of {string.Join(", ", Enum.GetValues<T>().Select(name))}");
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(name(value));
}

sealed class TrialStatusConverter() : NameConverter<TrialStatus>(status => status.Name());

sealed class SweepStatusConverter() : NameConverter<SweepStatus>(status => status.Name());

sealed class MetricNameConverter() : NameConverter<MetricKind>(kind => new RankMetric(kind).Name);

/// <summary>A configuration or task: an object whose keys keep their order and whose values keep their types, as
/// <see cref="ConfigJson"/> writes and reads it (the plan's form): strings, whole numbers (read back as <see cref="long"/>),
/// other numbers (<see cref="double"/>, null when not finite), nulls.</summary>
sealed class FieldsConverter : JsonConverter<IReadOnlyList<KeyValuePair<string, object?>>>
{
    public override IReadOnlyList<KeyValuePair<string, object?>> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException($"expected an object of fields, not {reader.TokenType}");
        using var fields = JsonDocument.ParseValue(ref reader);
        return ConfigJson.Read(fields.RootElement);
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<KeyValuePair<string, object?>> fields, JsonSerializerOptions options) =>
        ConfigJson.Write(writer, fields);
}
