using System.Net;
using System.Text;

namespace Descent.Tests.Telemetry;

/// <summary>A span as an OTLP peer receives it.</summary>
public sealed record ReceivedSpan(string Service, string Scope, string TraceId, string SpanId, string ParentSpanId, string Name,
    IReadOnlyDictionary<string, object> Attributes)
{
    public double Number(string key) => Convert.ToDouble(Attributes[key], System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// An OTLP/HTTP receiver on loopback: accepts <c>POST /v1/traces</c> and <c>/v1/metrics</c> as the OpenTelemetry
/// exporter sends them (protobuf, <c>http/protobuf</c>), decodes the protobuf wire format of the OTLP messages it
/// needs (resource, scope, span ids, names, attributes; metric names), and answers 200 as a collector would.
/// </summary>
public sealed class OtlpReceiver : IDisposable
{
    readonly HttpListener _listener = new();
    readonly List<ReceivedSpan> _spans = [];
    readonly HashSet<(string Service, string Metric)> _metrics = [];
    readonly Lock _lock = new();
    readonly Task _loop;

    public OtlpReceiver()
    {
        Port = RunningProcess.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(Serve);
    }

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";

    public IReadOnlyList<ReceivedSpan> Spans { get { lock (_lock) return [.. _spans]; } }
    public IReadOnlyCollection<(string Service, string Metric)> Metrics { get { lock (_lock) return [.. _metrics]; } }

    /// <summary>What a process needs to export here.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
    };

    async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var bytes = body.ToArray();
            var path = context.Request.Url!.AbsolutePath;
            lock (_lock)
            {
                if (path == "/v1/traces") _spans.AddRange(DecodeTraces(bytes));
                else if (path == "/v1/metrics") _metrics.UnionWith(DecodeMetricNames(bytes));
            }
            context.Response.StatusCode = path is "/v1/traces" or "/v1/metrics" or "/v1/logs" ? 200 : 404;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    // ---- OTLP messages (opentelemetry/proto/trace/v1/trace.proto, metrics/v1/metrics.proto) ----

    static IEnumerable<ReceivedSpan> DecodeTraces(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1).Select(f => f.Bytes))
        {
            var service = ServiceName(resourceSpans);
            foreach (var scopeSpans in Fields(resourceSpans).Where(f => f.Number == 2).Select(f => f.Bytes))
            {
                var scope = Fields(scopeSpans).Where(f => f.Number == 1).Select(f => Text(Fields(f.Bytes).FirstOrDefault(g => g.Number == 1).Bytes)).FirstOrDefault() ?? "";
                foreach (var span in Fields(scopeSpans).Where(f => f.Number == 2).Select(f => f.Bytes))
                {
                    var fields = Fields(span).ToList();
                    string Hex(int number) => Convert.ToHexStringLower(fields.FirstOrDefault(f => f.Number == number).Bytes ?? []);
                    yield return new ReceivedSpan(service, scope, Hex(1), Hex(2), Hex(4),
                        Text(fields.First(f => f.Number == 5).Bytes),
                        fields.Where(f => f.Number == 9).Select(f => KeyValue(f.Bytes)).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value));
                }
            }
        }
    }

    static IEnumerable<(string, string)> DecodeMetricNames(byte[] request)
    {
        foreach (var resourceMetrics in Fields(request).Where(f => f.Number == 1).Select(f => f.Bytes))
        {
            var service = ServiceName(resourceMetrics);
            foreach (var scopeMetrics in Fields(resourceMetrics).Where(f => f.Number == 2).Select(f => f.Bytes))
                foreach (var metric in Fields(scopeMetrics).Where(f => f.Number == 2).Select(f => f.Bytes))
                    yield return (service, Text(Fields(metric).First(f => f.Number == 1).Bytes));
        }
    }

    static string ServiceName(byte[] resourceContainer)
    {
        var resource = Fields(resourceContainer).FirstOrDefault(f => f.Number == 1).Bytes ?? [];
        return Fields(resource).Where(f => f.Number == 1).Select(f => KeyValue(f.Bytes))
            .FirstOrDefault(kv => kv.Key == "service.name").Value as string ?? "";
    }

    static KeyValuePair<string, object> KeyValue(byte[] keyValue)
    {
        var fields = Fields(keyValue).ToList();
        var key = Text(fields.First(f => f.Number == 1).Bytes);
        var any = Fields(fields.FirstOrDefault(f => f.Number == 2).Bytes ?? []).FirstOrDefault();
        object value = any.Number switch
        {
            1 => Text(any.Bytes),
            2 => any.Varint != 0,
            3 => (long)any.Varint,
            4 => BitConverter.Int64BitsToDouble((long)any.Varint),
            _ => "",
        };
        return new(key, value);
    }

    static string Text(byte[]? bytes) => bytes is null ? "" : Encoding.UTF8.GetString(bytes);

    /// <summary>The protobuf wire format: (field number, wire type) keys followed by varints, fixed64/32 values or
    /// length-delimited bytes. Fixed values are returned in <c>Varint</c>.</summary>
    static IEnumerable<(int Number, ulong Varint, byte[] Bytes)> Fields(byte[] message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var key = ReadVarint(message, ref position);
            var number = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0:
                    yield return (number, ReadVarint(message, ref position), null!);
                    break;
                case 1:
                    yield return (number, BitConverter.ToUInt64(message, position), null!);
                    position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message, ref position);
                    yield return (number, 0, message[position..(position + length)]);
                    position += length;
                    break;
                case 5:
                    yield return (number, BitConverter.ToUInt32(message, position), null!);
                    position += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {key & 7}");
            }
        }
    }

    static ulong ReadVarint(byte[] message, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { /* stopped */ }
    }
}
