using StackExchange.Redis;

namespace Descent.Silo;

/// <summary>
/// Where a cluster's Redis is, as silos (<c>Descent:Redis</c>) and clients (<c>--cluster redis://...</c>) write it:
/// a URL, <c>redis://[:password@]host[:port][,host:port...]</c> (<c>rediss://</c> for TLS; port 6379 by default), or
/// a StackExchange.Redis connection string (<c>host:port,password=...,ssl=true</c>).
/// </summary>
public static class RedisAddress
{
    public const int DefaultPort = 6379;

    /// <summary>True when <paramref name="text"/> is written as a Redis URL (<c>redis://</c> or <c>rediss://</c>).</summary>
    public static bool IsUrl(string text) =>
        text.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);

    /// <summary>StackExchange.Redis options for <paramref name="text"/>; <paramref name="source"/> names the setting
    /// in errors. Connections are retried while Redis restarts (<c>AbortOnConnectFail</c> off).</summary>
    /// <exception cref="FormatException">The text is neither form; the message names <paramref name="source"/>
    /// and the value (with any password hidden).</exception>
    public static ConfigurationOptions Parse(string text, string source)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new FormatException($"{source} = \"{text}\": expected redis://host:port or a StackExchange.Redis connection string");
        ConfigurationOptions options;
        try
        {
            options = IsUrl(text) ? FromUrl(text) : ConfigurationOptions.Parse(text);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
        {
            throw new FormatException($"{source} = \"{Redact(text)}\": {e.Message.TrimEnd('.')}; expected redis://host:port or host:port[,password=...]");
        }
        if (options.EndPoints.Count == 0)
            throw new FormatException($"{source} = \"{Redact(text)}\": names no Redis host; expected redis://host:port or host:port");
        options.AbortOnConnectFail = false;
        return options;
    }

    static ConfigurationOptions FromUrl(string text)
    {
        var scheme = text[..text.IndexOf("://", StringComparison.Ordinal)].ToLowerInvariant();
        var rest = text[(scheme.Length + 3)..];
        var options = new ConfigurationOptions { Ssl = scheme == "rediss" };
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            var user = Uri.UnescapeDataString(rest[..at]);
            var colon = user.IndexOf(':');
            if (colon < 0) options.Password = user;
            else
            {
                if (colon > 0) options.User = user[..colon];
                options.Password = user[(colon + 1)..];
            }
            rest = rest[(at + 1)..];
        }
        var slash = rest.IndexOf('/');
        if (slash >= 0)
        {
            var database = rest[(slash + 1)..];
            if (database.Length > 0)
                options.DefaultDatabase = int.TryParse(database, out var db) && db >= 0
                    ? db
                    : throw new FormatException($"database \"{database}\" is not a number");
            rest = rest[..slash];
        }
        foreach (var host in rest.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = host.LastIndexOf(':');
            var bracketed = host.StartsWith('[');
            if (colon > 0 && (!bracketed || host[colon - 1] == ']'))
            {
                if (!int.TryParse(host[(colon + 1)..], out var port) || port is < 1 or > 65535)
                    throw new FormatException($"port \"{host[(colon + 1)..]}\" is not between 1 and 65535");
                options.EndPoints.Add(host[..colon].Trim('[', ']'), port);
            }
            else options.EndPoints.Add(host.Trim('[', ']'), DefaultPort);
        }
        return options;
    }

    /// <summary><paramref name="text"/> with any password replaced by <c>***</c>, for messages and logs.</summary>
    public static string Redact(string text)
    {
        if (IsUrl(text))
        {
            var start = text.IndexOf("://", StringComparison.Ordinal) + 3;
            var at = text.LastIndexOf('@');
            return at > start ? text[..start] + "***" + text[at..] : text;
        }
        return string.Join(',', text.Split(',').Select(part =>
            part.TrimStart().StartsWith("password=", StringComparison.OrdinalIgnoreCase) ? "password=***" : part));
    }

    /// <summary>The endpoints, as <c>host:port</c>, for messages.</summary>
    public static string Describe(ConfigurationOptions options) => string.Join(",", options.EndPoints.Select(EndPointCollection.ToString));

    /// <summary>How long <see cref="Unreachable"/> waits for Redis to take a connection and answer a PING.</summary>
    public static readonly TimeSpan ReachTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Null when the Redis of <paramref name="options"/> takes a connection and answers a PING within
    /// <see cref="ReachTimeout"/>, else one line naming <paramref name="source"/> (the setting or option it came from),
    /// the endpoints and the reason, never a password: <c>Descent:Redis: cannot reach Redis at 127.0.0.1:6999:
    /// connection refused</c>. Checked before a silo starts or a client connects, where StackExchange.Redis would
    /// otherwise retry for many seconds and fail with a long dump.</summary>
    public static async Task<string?> Unreachable(ConfigurationOptions options, string source, CancellationToken cancellation = default)
    {
        var probe = options.Clone();
        probe.AbortOnConnectFail = true;
        probe.ConnectRetry = 1;
        probe.ConnectTimeout = (int)ReachTimeout.TotalMilliseconds;
        probe.SyncTimeout = probe.AsyncTimeout = (int)ReachTimeout.TotalMilliseconds;
        string reason;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            using var connection = await ConnectionMultiplexer.ConnectAsync(probe, TextWriter.Null).WaitAsync(ReachTimeout * 2, cancellation);
            await connection.GetDatabase().PingAsync().WaitAsync(ReachTimeout, cancellation);
            return null;
        }
        catch (RedisConnectionException e) when (e.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            reason = "authentication failed (check the password and user)";
        }
        catch (RedisConnectionException e)
        {
            reason = Innermost(e) is System.Net.Sockets.SocketException socket ? socket.Message
                : clock.Elapsed < ReachTimeout ? "the connection was refused (nothing listens there, or no route to it)"
                : $"no connection within {ReachTimeout.TotalSeconds:0} s ({e.FailureType})";
        }
        catch (Exception e) when (e is TimeoutException or RedisException)
        {
            reason = $"no answer within {ReachTimeout.TotalSeconds:0} s ({e.GetType().Name})";
        }
        return $"{source}: cannot reach Redis at {Describe(options)}: {reason}";
    }

    static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;
}
