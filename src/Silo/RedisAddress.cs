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
}
