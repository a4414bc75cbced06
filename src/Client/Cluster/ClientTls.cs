using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Descent.Silo;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Descent.Client.Cluster;

/// <summary>
/// The client's TLS to a cluster's gateways: <c>--tls-ca</c> (the CA the gateways' certificates must be issued by; it
/// switches TLS on), <c>--tls-cert</c> and <c>--tls-key</c> (the client's own certificate, for clusters that require
/// one), or the variables <c>DESCENT_TLS_CA</c>, <c>DESCENT_TLS_CERT</c>, <c>DESCENT_TLS_KEY</c>, and
/// <c>DESCENT_TLS_PASSWORD</c> for a PKCS#12 file's or an encrypted key's password. The gateway's certificate is
/// checked against the CA, not against the host name (see <see cref="TlsCredentials"/>).
/// </summary>
public sealed class ClientTls
{
    public const string CertificateVariable = "DESCENT_TLS_CERT";
    public const string KeyVariable = "DESCENT_TLS_KEY";
    public const string AuthorityVariable = "DESCENT_TLS_CA";
    public const string PasswordVariable = "DESCENT_TLS_PASSWORD";

    ClientTls(TlsCredentials credentials) => Credentials = credentials;

    public TlsCredentials Credentials { get; }

    /// <summary>Reads the options (each falling back to its variable); null when TLS is not asked for. Throws
    /// <see cref="UsageException"/> naming the option (or variable) and the path: a file missing or unreadable, a
    /// certificate without its key or expired, a key without a certificate, a certificate without a CA.</summary>
    /// <param name="embedded">No cluster is named: the options make no sense then, and variables are ignored.</param>
    public static ClientTls? From(string? certificate, string? key, string? authorities, bool embedded)
    {
        var given = new[] { ("--tls-cert", certificate), ("--tls-key", key), ("--tls-ca", authorities) }.FirstOrDefault(o => !string.IsNullOrWhiteSpace(o.Item2));
        if (embedded)
        {
            if (given.Item2 is not null)
                throw new UsageException($"{given.Item1} = \"{given.Item2}\": only with --cluster; the embedded silo needs no TLS");
            return null;
        }
        var (certificateName, certificatePath) = Choose("--tls-cert", certificate, CertificateVariable);
        var (keyName, keyPath) = Choose("--tls-key", key, KeyVariable);
        var (authorityName, authorityPath) = Choose("--tls-ca", authorities, AuthorityVariable);
        if (certificatePath is null && keyPath is null && authorityPath is null) return null;
        if (certificatePath is null && keyPath is not null)
            throw new UsageException($"{keyName} = \"{keyPath}\": the key of a certificate; give the certificate as --tls-cert");
        if (authorityPath is null)
            throw new UsageException($"{certificateName} = \"{certificatePath}\": TLS needs --tls-ca too, the CA that issued the cluster's certificates (its ca.crt)");
        var names = new TlsSettingNames(certificateName, keyName, PasswordVariable, authorityName);
        try
        {
            var credentials = TlsCredentials.Load(certificatePath, keyPath, Blank(Environment.GetEnvironmentVariable(PasswordVariable)), authorityPath, names);
            if (credentials.Certificate is { } own && TlsCredentials.PurposeProblem(own, TlsCredentials.ClientAuthentication) is { } problem)
                throw new UsageException($"{certificateName} = \"{certificatePath}\": {problem}");
            return new ClientTls(credentials);
        }
        catch (TlsFileException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Adds TLS to every connection the Orleans client opens to a gateway.</summary>
    public void AddTo(IClientBuilder client)
    {
        var options = Credentials.Client();
        options.HandshakeTimeout = TimeSpan.FromSeconds(10);
        client.Services.AddOptions<ClientConnectionOptions>().Configure(o => o.ConfigureConnection(connection => connection.UseClientTls(options)));
    }

    /// <summary>
    /// Why <paramref name="gateway"/> would not take this client, when TLS is the reason; null when it is not (the
    /// gateway is not listening, or takes this client's TLS, or neither end speaks TLS). Orleans' client says only
    /// that no gateway could be reached, so after that failure the client makes one TLS handshake of its own with the
    /// gateway, sends nothing over it, and reads what happened: the gateway speaks TLS and this client does not; it
    /// does not answer TLS; its certificate is not issued by <c>--tls-ca</c>; it refuses this client's certificate, or
    /// the lack of one (TLS 1.3 says so after the handshake, as an alert on the first read).
    /// </summary>
    public static async Task<string?> Diagnose(IPEndPoint gateway, ClientTls? tls, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        using var tcp = new TcpClient(gateway.AddressFamily);
        try
        {
            await tcp.ConnectAsync(gateway, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return null;
        }
        X509Certificate2? served = null;
        string? untrusted = null;
        await using var stream = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, certificate, chain, _) =>
        {
            if (certificate is null) return false;
            served = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            // Without TLS settings the handshake only finds out whether the gateway speaks TLS: nothing is sent over it.
            untrusted = tls?.Credentials.TrustProblem(served, chain, TlsCredentials.ServerAuthentication);
            return untrusted is null;
        });
        var options = new SslClientAuthenticationOptions { TargetHost = "" };
        if (tls?.Credentials.Certificate is { } own)
            options.ClientCertificateContext = SslStreamCertificateContext.Create(own, tls.Credentials.Intermediates, offline: true);
        bool refusedInHandshake;
        try
        {
            await stream.AuthenticateAsClientAsync(options, timeout.Token);
            refusedInHandshake = false;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
        {
            if (cancellation.IsCancellationRequested) return null;
            if (untrusted is not null)
                return $"the gateway {gateway} presented a {untrusted}; --tls-ca must be the CA that issued the cluster's certificates";
            if (served is null)
                return tls is null ? null
                    : $"the gateway {gateway} does not answer TLS: that cluster runs without TLS (no Descent:Tls settings), or this is not a Descent gateway; leave out --tls-ca";
            // The gateway sent its certificate, then ended the handshake: TLS 1.2's way of refusing the client's.
            refusedInHandshake = true;
        }
        if (tls is null)
            return $"the gateway {gateway} speaks TLS (its certificate: {served!.Subject}, issued by {served.Issuer}): give the cluster's CA as --tls-ca, and this client's certificate as --tls-cert and --tls-key if the cluster requires one";
        if (!refusedInHandshake && await Accepted(stream, cancellation)) return null;
        return tls.Credentials.Certificate is { } refused
            ? $"the gateway {gateway} refused this client's certificate ({refused.Subject}, issued by {refused.Issuer}): the cluster takes only certificates its own CA issued"
            : $"the gateway {gateway} requires a client certificate: give this client's certificate and key as --tls-cert and --tls-key";
    }

    /// <summary>Whether the gateway took this client after a TLS 1.3 handshake: it then waits for the client's first
    /// bytes (or sends some); it closes the connection or sends an alert if it refused the client's certificate.</summary>
    static async Task<bool> Accepted(SslStream stream, CancellationToken cancellation)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        wait.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            return await stream.ReadAsync(new byte[1], wait.Token) > 0;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or AuthenticationException)
        {
            return false;
        }
    }

    static (string Name, string? Path) Choose(string option, string? value, string variable) =>
        !string.IsNullOrWhiteSpace(value) ? (option, value)
        : Blank(Environment.GetEnvironmentVariable(variable)) is { } fromVariable ? (variable, fromVariable)
        : (option, null);

    static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
