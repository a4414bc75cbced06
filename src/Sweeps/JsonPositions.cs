using System.Text;
using System.Text.Json;

namespace Descent.Sweeps;

/// <summary>Line and column (1-based, in characters) of every value in a JSON document, by path
/// (<c>parameters.lr.values[1]</c>), so that a problem found in the parsed document can point into the file.</summary>
sealed class JsonPositions
{
    readonly Dictionary<string, (int Line, int Column)> _positions = new(StringComparer.Ordinal);

    /// <summary>Keys given twice in one object: the path and the position of the second.</summary>
    public List<(string Path, int Line, int Column)> Duplicates { get; } = [];

    /// <summary>The first string that is not valid text (a lone UTF-16 surrogate such as <c>\uD800</c>).</summary>
    public (int Line, int Column)? InvalidText { get; private set; }

    /// <summary>In a document that is not JSON, where reading stopped: the path of the value being read and the byte
    /// offset after the last token read (whitespace and separators may follow before the offending text).</summary>
    public (string Path, int Offset)? SyntaxError { get; private set; }

    public JsonPositions(byte[] utf8, JsonReaderOptions options)
    {
        var lineStarts = new List<int> { 0 };
        for (var i = 0; i < utf8.Length; i++)
            if (utf8[i] == (byte)'\n') lineStarts.Add(i + 1);

        var reader = new Utf8JsonReader(utf8, options);
        // Each open container: its path, and the index of its next element (arrays) or -1 (objects).
        var stack = new Stack<(string Path, int Next)>();
        string? property = null;
        try
        {
            Scan(ref reader, utf8, lineStarts, stack, ref property);
        }
        catch (JsonException)
        {
            // Where an object expects a key, the object itself is the place.
            var inObjectWithoutKey = property is null && stack.Count > 0 && stack.Peek().Next < 0;
            SyntaxError = (inObjectWithoutKey ? stack.Peek().Path : NextPath(stack, property), (int)reader.BytesConsumed);
        }
    }

    void Scan(ref Utf8JsonReader reader, byte[] utf8, List<int> lineStarts, Stack<(string Path, int Next)> stack, ref string? property)
    {
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    property = Text(ref reader, utf8, lineStarts) ?? "?";
                    continue;
                case JsonTokenType.String:
                    Text(ref reader, utf8, lineStarts);
                    break;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    stack.Pop();
                    continue;
            }
            var path = NextPath(stack, property);
            property = null;
            var position = Position(utf8, lineStarts, (int)reader.TokenStartIndex);
            if (!_positions.TryAdd(path, position)) Duplicates.Add((path, position.Item1, position.Item2));
            if (reader.TokenType is JsonTokenType.StartObject) stack.Push((path, -1));
            else if (reader.TokenType is JsonTokenType.StartArray) stack.Push((path, 0));
        }
    }

    string? Text(ref Utf8JsonReader reader, byte[] utf8, List<int> lineStarts)
    {
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            InvalidText ??= Position(utf8, lineStarts, (int)reader.TokenStartIndex);
            return null;
        }
    }

    /// <summary>Line and column (1-based, in characters) of a byte offset.</summary>
    public static (int Line, int Column) Locate(byte[] utf8, int offset)
    {
        var lineStarts = new List<int> { 0 };
        for (var i = 0; i < offset && i < utf8.Length; i++)
            if (utf8[i] == (byte)'\n') lineStarts.Add(i + 1);
        return Position(utf8, lineStarts, Math.Min(offset, utf8.Length));
    }

    static string NextPath(Stack<(string Path, int Next)> stack, string? property)
    {
        if (stack.Count == 0) return "";
        var (parent, next) = stack.Pop();
        if (next >= 0)
        {
            stack.Push((parent, next + 1));
            return $"{parent}[{next}]";
        }
        stack.Push((parent, next));
        return parent.Length == 0 ? property! : $"{parent}.{property}";
    }

    static (int, int) Position(byte[] utf8, List<int> lineStarts, int offset)
    {
        var line = lineStarts.BinarySearch(offset);
        if (line < 0) line = ~line - 1;
        var column = Encoding.UTF8.GetCharCount(utf8, lineStarts[line], offset - lineStarts[line]) + 1;
        return (line + 1, column);
    }

    /// <summary>The position of <paramref name="path"/>, or of its nearest ancestor that is in the file.</summary>
    public (int Line, int Column)? Of(string path)
    {
        while (true)
        {
            if (_positions.TryGetValue(path, out var position)) return position;
            var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
            if (cut <= 0) return _positions.TryGetValue("", out var root) ? root : null;
            path = path[..cut];
        }
    }
}
