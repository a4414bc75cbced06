using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace Descent.Silo;

/// <summary>A certificate file, key file or CA file that cannot be used; the message names the setting (silo:
/// <c>Descent:Tls:CertificatePath</c>, client: <c>--tls-cert</c>), the path and what is wrong, never the file's
/// content.</summary>
public sealed class TlsFileException(string message) : Exception(message);

/// <summary>
/// What one end of a Descent connection presents and trusts: its certificate (with private key, and any intermediate
/// CA certificates to send with it) and the certificate authorities a remote certificate must chain to. The one
/// definition of "trusted" for silos and clients: a remote certificate is accepted when it chains to one of
/// <see cref="Authorities"/> (and only those: the machine's trust store is not consulted, so a certificate from a
/// public CA does not open a private cluster), is within its validity period and allows the purpose (server or client
/// authentication) if it restricts its purposes. Host names are not matched: silos are addressed by IP (and advertise
/// loopback or a pod's address), so the CA, not a name, says who belongs to the cluster.
/// </summary>
public sealed class TlsCredentials
{
    /// <summary>Extended key usage: TLS server authentication (RFC 5280, id-kp-serverAuth).</summary>
    public static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <summary>Extended key usage: TLS client authentication (RFC 5280, id-kp-clientAuth).</summary>
    public static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    TlsCredentials(X509Certificate2? certificate, X509Certificate2Collection intermediates, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        Intermediates = intermediates;
        Authorities = authorities;
    }

    /// <summary>This end's certificate, with its private key; null for a client that presents none.</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>CA certificates sent after <see cref="Certificate"/> (the rest of a PEM chain or a PKCS#12 file).</summary>
    public X509Certificate2Collection Intermediates { get; }

    /// <summary>The certificate authorities remote certificates must chain to.</summary>
    public X509Certificate2Collection Authorities { get; }

    /// <summary>Loads a certificate and the authorities from files; throws <see cref="TlsFileException"/> naming the
    /// setting and the path, with one line per kind of problem: a file missing, empty or unreadable; no certificate;
    /// no key; an encrypted key without a password, or with a wrong one; a malformed key; a key that is not the
    /// certificate's; a PKCS#12 file its password does not open; a certificate expired or not yet valid.</summary>
    /// <param name="certificate">A PEM file (<c>tls.crt</c>: the certificate, then any intermediate CAs; the key too
    /// when <paramref name="key"/> is null), a DER certificate, or a PKCS#12 file (<c>.pfx</c>, <c>.p12</c>); null: no
    /// certificate.</param>
    /// <param name="key">A PEM private key file (<c>tls.key</c>) in any form <see cref="PemPrivateKey"/> reads, for a
    /// PEM or DER certificate.</param>
    /// <param name="password">The PKCS#12 file's password, or an encrypted PEM key's.</param>
    /// <param name="authorities">A PEM file of one or more CA certificates (<c>ca.crt</c>).</param>
    /// <param name="names">The settings' names as the user gives them, for messages.</param>
    public static TlsCredentials Load(string? certificate, string? key, string? password, string authorities, TlsSettingNames names)
    {
        var trusted = LoadAuthorities(authorities, names.Authorities);
        if (certificate is null)
            return new TlsCredentials(null, [], trusted);
        var (leaf, intermediates) = LoadCertificate(certificate, key, password, names);
        return new TlsCredentials(leaf, intermediates, trusted);
    }

    static X509Certificate2Collection LoadAuthorities(string path, string name)
    {
        var text = ReadText(path, name);
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPem(text);
        }
        catch (CryptographicException e)
        {
            throw new TlsFileException($"{name} = \"{path}\": cannot read its certificates ({e.Message})");
        }
        if (authorities.Count == 0) throw new TlsFileException($"{name} = \"{path}\": {NoCertificate(text)}");
        return authorities;
    }

    static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadCertificate(string path, string? keyPath, string? password, TlsSettingNames names)
    {
        var bytes = ReadBytes(path, names.Certificate);
        X509Certificate2 leaf;
        var chain = new X509Certificate2Collection();
        if (IsPkcs12(bytes))
        {
            if (keyPath is not null)
                throw new TlsFileException($"{names.Key} = \"{keyPath}\": only for a PEM or DER certificate; {path} is a PKCS#12 file, which holds its own key");
            try
            {
                chain = X509CertificateLoader.LoadPkcs12Collection(bytes, password);
            }
            catch (CryptographicException e)
            {
                throw new TlsFileException(password is null
                    ? $"{names.Certificate} = \"{path}\": a PKCS#12 file that does not open without a password; give it as {names.Password}"
                    : $"{names.Certificate} = \"{path}\": a PKCS#12 file that {names.Password} does not open: wrong password ({e.Message})");
            }
            leaf = chain.FirstOrDefault(c => c.HasPrivateKey)
                   ?? throw new TlsFileException($"{names.Certificate} = \"{path}\": holds no certificate with its private key");
        }
        else
        {
            var pem = IsPem(bytes);
            var text = System.Text.Encoding.ASCII.GetString(bytes);
            try
            {
                if (pem) chain.ImportFromPem(text);
                else chain.Add(X509CertificateLoader.LoadCertificate(bytes));
            }
            catch (CryptographicException e)
            {
                throw new TlsFileException(pem
                    ? $"{names.Certificate} = \"{path}\": cannot read its certificates ({e.Message})"
                    : $"{names.Certificate} = \"{path}\": holds no certificate: it is neither PEM (-----BEGIN CERTIFICATE-----), DER nor PKCS#12 (.pfx)");
            }
            if (chain.Count == 0) throw new TlsFileException($"{names.Certificate} = \"{path}\": {NoCertificate(text)}");
            // A PEM file may hold the key after the certificates; a DER file cannot.
            if (keyPath is null && !text.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
                throw new TlsFileException($"{names.Certificate} = \"{path}\": holds no private key; give the key file as {names.Key}");
            var keyText = keyPath is null ? text : ReadText(keyPath, names.Key);
            var keySetting = keyPath is null ? $"{names.Certificate} = \"{path}\"" : $"{names.Key} = \"{keyPath}\"";
            leaf = WithPrivateKey(chain[0], path, PemPrivateKey.Read(keyText, password, keySetting, names.Password), keySetting);
        }
        var intermediates = new X509Certificate2Collection();
        foreach (var c in chain)
            if (!c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)) intermediates.Add(c);
        var now = DateTime.UtcNow;
        if (now < leaf.NotBefore.ToUniversalTime())
            throw new TlsFileException($"{names.Certificate} = \"{path}\": its certificate ({leaf.Subject}) is not valid before {leaf.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z");
        if (now > leaf.NotAfter.ToUniversalTime())
            throw new TlsFileException($"{names.Certificate} = \"{path}\": its certificate ({leaf.Subject}) expired at {leaf.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z");
        return (leaf, intermediates);
    }

    /// <summary>Null when the certificate allows <paramref name="purpose"/> (it has no extended key usage, or lists it),
    /// else the problem.</summary>
    public static string? PurposeProblem(X509Certificate2 certificate, Oid purpose)
    {
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>()).ToList();
        return usages.Count == 0 || usages.Any(u => u.Value == purpose.Value) ? null
            : $"its certificate ({certificate.Subject}) is not for {Name(purpose)} (its extended key usage lists {string.Join(", ", usages.Select(Name))})";
    }

    /// <summary>An extended key usage in words (the platform's friendly names differ: "TLS Web Server Authentication").</summary>
    static string Name(Oid usage) => usage.Value switch
    {
        "1.3.6.1.5.5.7.3.1" => "server authentication",
        "1.3.6.1.5.5.7.3.2" => "client authentication",
        _ => usage.FriendlyName is { Length: > 0 } name ? $"{name} ({usage.Value})" : usage.Value ?? "?",
    };

    /// <summary>Null when <paramref name="remote"/> chains to one of <see cref="Authorities"/> for
    /// <paramref name="purpose"/>, else why not (the chain's status, in words).</summary>
    /// <param name="presented">The chain TLS built, whose extra store holds the intermediates the remote end sent.</param>
    public string? TrustProblem(X509Certificate2 remote, X509Chain? presented, Oid purpose)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        // Roots anchor the chain; intermediate CAs given as trusted only help build it.
        foreach (var authority in Authorities)
            (authority.SubjectName.RawData.AsSpan().SequenceEqual(authority.IssuerName.RawData) ? policy.CustomTrustStore : policy.ExtraStore).Add(authority);
        if (presented is not null)
        {
            policy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
            foreach (var element in presented.ChainElements) policy.ExtraStore.Add(element.Certificate);
        }
        policy.ExtraStore.AddRange(Intermediates);
        // A private CA seldom publishes revocation lists, and silos may not reach the internet.
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.ApplicationPolicy.Add(purpose);
        if (chain.Build(remote)) return null;
        var reasons = chain.ChainStatus.Select(s => s.Status switch
        {
            X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain => "it is not issued by a trusted CA",
            X509ChainStatusFlags.NotTimeValid => "it has expired or is not yet valid",
            X509ChainStatusFlags.NotValidForUsage => $"it is not for {Name(purpose)}",
            _ => s.StatusInformation.Trim(),
        }).Distinct();
        return $"certificate {remote.Subject} (issued by {remote.Issuer}): {string.Join("; ", reasons)}";
    }

    /// <summary>The TLS settings of Orleans' connection middleware for this end as a server: this certificate, and a
    /// remote certificate <paramref name="mode"/> requires or allows checked by <see cref="TrustProblem"/>.</summary>
    public TlsOptions Server(RemoteCertificateMode mode, Action<string>? refused = null)
    {
        var context = SslStreamCertificateContext.Create(Certificate!, Intermediates, offline: true);
        return new TlsOptions
        {
            LocalCertificate = Certificate,
            RemoteCertificateMode = mode,
            RemoteCertificateValidation = Validation(ClientAuthentication, refused),
            OnAuthenticateAsServer = (_, o) =>
            {
                // The certificate with its intermediates, so remote ends that trust only the root can build the chain.
                o.ServerCertificateSelectionCallback = null;
                o.ServerCertificate = null;
                ((SslServerAuthenticationOptions)o.SslServerAuthenticationOptions).ServerCertificateContext = context;
            },
        };
    }

    /// <summary>The TLS settings of Orleans' connection middleware for this end as a client: this certificate if any,
    /// and the server's certificate required and checked by <see cref="TrustProblem"/>.</summary>
    public TlsOptions Client(Action<string>? refused = null)
    {
        var context = Certificate is null ? null : SslStreamCertificateContext.Create(Certificate, Intermediates, offline: true);
        return new TlsOptions
        {
            LocalCertificate = Certificate,
            ClientCertificateMode = Certificate is null ? RemoteCertificateMode.NoCertificate : RemoteCertificateMode.RequireCertificate,
            RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
            RemoteCertificateValidation = Validation(ServerAuthentication, refused),
            OnAuthenticateAsClient = (_, o) =>
            {
                if (context is null) return;
                o.ClientCertificates = null;
                ((SslClientAuthenticationOptions)o.SslClientAuthenticationOptions).ClientCertificateContext = context;
            },
        };
    }

    /// <summary>The check of a remote certificate: <see cref="TrustProblem"/>, whatever TLS's own policy errors say
    /// (they judge by the machine's trust store and a host name this cluster does not use).</summary>
    RemoteCertificateValidator Validation(Oid purpose, Action<string>? refused) => (certificate, chain, _) =>
    {
        var problem = TrustProblem(certificate, chain, purpose);
        if (problem is not null) refused?.Invoke(problem);
        return problem is null;
    };

    /// <summary>Why a PEM file gave no certificate: none in it, or markers that do not stand on lines of their own
    /// (files joined with <c>cat</c> whose first lacks its last newline).</summary>
    static string NoCertificate(string text) => text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
        ? "its PEM certificates cannot be read: every -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- line must stand on a line of its own"
        : "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";

    /// <summary><paramref name="certificate"/> (from the file <paramref name="path"/>) with <paramref name="key"/>, a
    /// PKCS#8 private key; throws naming <paramref name="keySetting"/> when the key is not the certificate's.</summary>
    static X509Certificate2 WithPrivateKey(X509Certificate2 certificate, string path, PemPrivateKey key, string keySetting)
    {
        var expected = certificate.GetKeyAlgorithm();
        var notIts = $"{keySetting}: does not match the certificate in {path} ({certificate.Subject})";
        if (key.Algorithm != expected)
            throw new TlsFileException($"{notIts}: it is {KeyKind(key.Algorithm)}, the certificate's is {KeyKind(expected)}");
        try
        {
            switch (expected)
            {
                case RsaKey:
                {
                    using var rsa = RSA.Create();
                    rsa.ImportPkcs8PrivateKey(key.Pkcs8, out _);
                    return certificate.CopyWithPrivateKey(rsa);
                }
                case EcKey:
                {
                    using var ec = ECDsa.Create();
                    ec.ImportPkcs8PrivateKey(key.Pkcs8, out _);
                    return certificate.CopyWithPrivateKey(ec);
                }
                default:
                    throw new TlsFileException($"{keySetting}: {KeyKind(expected)} keys are not supported for TLS here; use an RSA or EC key");
            }
        }
        catch (ArgumentException)
        {
            // CopyWithPrivateKey: the key's public half is not the certificate's.
            throw new TlsFileException($"{notIts}: it is the private key of another certificate");
        }
        catch (CryptographicException e)
        {
            throw new TlsFileException($"{keySetting}: its private key cannot be used ({e.Message})");
        }
    }

    const string RsaKey = "1.2.840.113549.1.1.1", EcKey = "1.2.840.10045.2.1";

    static string KeyKind(string algorithm) => algorithm switch
    {
        RsaKey => "an RSA key",
        EcKey => "an EC key",
        "1.2.840.10040.4.1" => "a DSA key",
        "1.3.101.112" => "an Ed25519 key",
        "1.3.101.113" => "an Ed448 key",
        _ => $"a key of algorithm {algorithm}",
    };

    /// <summary>Whether <paramref name="bytes"/> have the shape of a PKCS#12 file (RFC 7292's PFX: version 3 and its
    /// content), read without its password, so a wrong password is told apart from a file of another kind.</summary>
    static bool IsPkcs12(byte[] bytes)
    {
        try
        {
            var pfx = Org.BouncyCastle.Asn1.Pkcs.Pfx.GetInstance(bytes);
            return pfx.AuthSafe is not null;
        }
        catch (Exception e) when (e is ArgumentException or InvalidCastException or IOException or InvalidOperationException)
        {
            return false;
        }
    }

    static bool IsPem(byte[] bytes) =>
        System.Text.Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 4096)).Contains("-----BEGIN ", StringComparison.Ordinal);

    static string ReadText(string path, string name) => System.Text.Encoding.ASCII.GetString(ReadBytes(path, name));

    static byte[] ReadBytes(string path, string name)
    {
        try
        {
            if (Directory.Exists(path)) throw new TlsFileException($"{name} = \"{path}\": is a folder, not a file");
            var bytes = File.ReadAllBytes(path);
            return bytes.Length > 0 ? bytes : throw new TlsFileException($"{name} = \"{path}\": is empty");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TlsFileException($"{name} = \"{path}\": no such file");
        }
        catch (UnauthorizedAccessException)
        {
            throw new TlsFileException($"{name} = \"{path}\": cannot be read (permission denied)");
        }
        catch (IOException e)
        {
            throw new TlsFileException($"{name} = \"{path}\": cannot be read ({e.Message})");
        }
    }
}

/// <summary>How the TLS settings are called where they were given: <c>Descent:Tls:CertificatePath</c> for a silo,
/// <c>--tls-cert</c> for the client; messages use these names.</summary>
public sealed record TlsSettingNames(string Certificate, string Key, string Password, string Authorities);
