namespace Descent.Silo;

/// <summary>
/// Section <c>Descent:Tls</c>: TLS on every connection of the silo: silo to silo (always mutual: both ends present a
/// certificate issued by the CA) and client to gateway. Off unless <see cref="CertificatePath"/> is set; then
/// <see cref="CaPath"/> is required too. The files are what a Kubernetes TLS secret mounts (<c>tls.crt</c>,
/// <c>tls.key</c>, <c>ca.crt</c>, as cert-manager writes them), or a PKCS#12 file with its password.
/// </summary>
public sealed class SiloTlsOptions
{
    public const string Section = $"{DescentSiloOptions.Section}:Tls";

    /// <summary>This silo's certificate: a PEM file (the certificate, then any intermediate CAs) or a PKCS#12 file
    /// (<c>.pfx</c>/<c>.p12</c>, with its key). It serves both ends of silo-to-silo connections, so if it restricts its
    /// extended key usage it must allow server and client authentication. Unset: no TLS.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/> (unset: the key is in that file).</summary>
    public string? KeyPath { get; set; }

    /// <summary>The PKCS#12 file's password, or an encrypted PEM key's (better given as the environment variable
    /// <c>Descent__Tls__Password</c> than on a command line).</summary>
    public string? Password { get; set; }

    /// <summary>A PEM file of the CA certificates that every silo's and client's certificate must be issued by (a
    /// private CA's <c>ca.crt</c>). Only these are trusted: not the machine's trust store.</summary>
    public string? CaPath { get; set; }

    /// <summary>What the gateway asks of clients: <see cref="ClientCertificatePolicy.Required"/> (the default: a client
    /// without a certificate issued by the CA is refused), <see cref="ClientCertificatePolicy.Optional"/> (clients
    /// without one are let in; one that presents a certificate must be trusted) or
    /// <see cref="ClientCertificatePolicy.None"/> (none is asked for: encryption only). Silos always require one.</summary>
    public ClientCertificatePolicy ClientCertificate { get; set; } = ClientCertificatePolicy.Required;

    /// <summary>How long a TLS handshake may take before the connection is dropped (default 10 s).</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);

    /// <summary>The names messages give these settings.</summary>
    public static readonly TlsSettingNames Names = new(
        $"{Section}:{nameof(CertificatePath)}", $"{Section}:{nameof(KeyPath)}", $"{Section}:{nameof(Password)}", $"{Section}:{nameof(CaPath)}");

    /// <summary>Loads the certificate and the CA; throws <see cref="TlsFileException"/> naming the setting and the path.
    /// Call only when <see cref="Enabled"/>.</summary>
    public TlsCredentials Credentials() =>
        TlsCredentials.Load(CertificatePath, Blank(KeyPath), Blank(Password), CaPath ?? "", Names);

    /// <summary>Every problem with these settings, each naming the setting and its value: files that are missing or
    /// unreadable, a certificate without its key, expired, not for both server and client authentication, or not
    /// issued by the CA (other silos would refuse it: better said at start than as a cluster that never forms).</summary>
    public IEnumerable<string> Problems()
    {
        if (HandshakeTimeout <= TimeSpan.Zero)
            yield return $"{Section}:{nameof(HandshakeTimeout)} = {HandshakeTimeout}: must be above 0";
        if (!Enabled)
        {
            foreach (var (key, value) in new[] { (Names.Key, KeyPath), (Names.Authorities, CaPath) })
                if (!string.IsNullOrWhiteSpace(value))
                    yield return $"{key} = \"{value}\": set without {Names.Certificate}; TLS needs this silo's certificate";
            yield break;
        }
        if (string.IsNullOrWhiteSpace(CaPath))
        {
            yield return $"{Names.Authorities} = \"{CaPath}\": required with {Names.Certificate}: the CA that issues the cluster's certificates (its ca.crt)";
            yield break;
        }
        string? problem = null;
        TlsCredentials? credentials = null;
        try
        {
            credentials = Credentials();
        }
        catch (TlsFileException e)
        {
            problem = e.Message;
        }
        if (problem is not null)
        {
            yield return problem;
            yield break;
        }
        var certificate = credentials!.Certificate!;
        var purposes = new[] { TlsCredentials.ServerAuthentication, TlsCredentials.ClientAuthentication }
            .Select(purpose => TlsCredentials.PurposeProblem(certificate, purpose)).OfType<string>().ToList();
        foreach (var wrongPurpose in purposes)
            yield return $"{Names.Certificate} = \"{CertificatePath}\": {wrongPurpose}; a silo's certificate serves both ends of silo-to-silo connections";
        if (purposes.Count == 0 && credentials.TrustProblem(certificate, null, TlsCredentials.ServerAuthentication) is { } untrusted)
            yield return $"{Names.Certificate} = \"{CertificatePath}\": not trusted by {Names.Authorities} = \"{CaPath}\", so other silos would refuse it: {untrusted}";
    }

    static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>Setting <c>Descent:Tls:ClientCertificate</c>: what a TLS gateway asks of clients.</summary>
public enum ClientCertificatePolicy
{
    /// <summary>Clients must present a certificate issued by the CA; others are refused during the handshake.</summary>
    Required,

    /// <summary>Clients may present one (then it must be issued by the CA) or none.</summary>
    Optional,

    /// <summary>Clients are not asked for a certificate: the connection is encrypted, and anyone who can reach the
    /// gateway may use it.</summary>
    None,
}
