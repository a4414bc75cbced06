using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Descent.Tests.Silo;

/// <summary>A private CA and the certificates a TLS cluster's tests need, made with <see cref="CertificateRequest"/>
/// and written as the files operators mount: <c>ca.crt</c>, <c>NAME.crt</c> + <c>NAME.key</c> (PEM, as a Kubernetes
/// TLS secret holds them) or <c>NAME.pfx</c> (PKCS#12).</summary>
sealed class TestPki
{
    public TestPki(string folder, string name = "Descent Test CA") : this(folder, name, null) { }

    TestPki(string folder, string name, TestPki? parent)
    {
        Folder = folder;
        Directory.CreateDirectory(folder);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var (notBefore, notAfter) = (DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        if (parent is null)
            Authority = request.CreateSelfSigned(notBefore, notAfter);
        else
        {
            using var issued = request.Create(parent.Authority, notBefore, notAfter.AddDays(-1), Serial());
            Authority = issued.CopyWithPrivateKey(key);
        }
        Chain = parent is null ? [] : [Authority, .. parent.Chain];
        AuthorityPath = Path.Combine(folder, $"{Slug(name)}.crt");
        File.WriteAllText(AuthorityPath, Authority.ExportCertificatePem() + "\n");
    }

    /// <summary>An intermediate CA under this one: its certificates' PEM files carry it after the certificate, as a
    /// chain for the remote end, which trusts only the root.</summary>
    public TestPki Intermediate(string name) => new(Folder, name, this);

    /// <summary>The CA certificates written after an issued certificate: none for a root.</summary>
    X509Certificate2[] Chain { get; }

    public string Folder { get; }

    /// <summary>The CA's certificate, with its private key.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>The CA's certificate as a PEM file: what silos and clients are given as the CA they trust.</summary>
    public string AuthorityPath { get; }

    public static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1"), ClientAuth = new("1.3.6.1.5.5.7.3.2");

    /// <summary>A certificate the CA issues to <paramref name="name"/> (for server and client authentication unless
    /// <paramref name="usages"/> says otherwise), written as <c>name.crt</c> and <c>name.key</c> (unencrypted
    /// PKCS#8; a P-256 EC key, or a 2048-bit RSA key when <paramref name="rsa"/>).</summary>
    public (string Certificate, string Key) IssuePem(string name, Oid[]? usages = null, DateTimeOffset? notAfter = null, bool rsa = false)
    {
        using var certificate = Issue(name, usages, notAfter, rsa);
        var (crt, key) = (Path.Combine(Folder, $"{name}.crt"), Path.Combine(Folder, $"{name}.key"));
        File.WriteAllText(crt, string.Concat(Chain.Prepend(certificate).Select(c => c.ExportCertificatePem() + "\n")));
        AsymmetricAlgorithm privateKey = rsa ? certificate.GetRSAPrivateKey()! : certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(key, privateKey.ExportPkcs8PrivateKeyPem() + "\n");
        return (crt, key);
    }

    /// <summary>The same as a PKCS#12 file <c>name.pfx</c> with <paramref name="password"/>.</summary>
    public string IssuePfx(string name, string password)
    {
        using var certificate = Issue(name, null, null, false);
        var pfx = Path.Combine(Folder, $"{name}.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, password));
        return pfx;
    }

    X509Certificate2 Issue(string name, Oid[]? usages, DateTimeOffset? notAfter, bool rsa)
    {
        using AsymmetricAlgorithm key = rsa ? SharedRsaKey() : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA r
            ? new CertificateRequest($"CN={name}", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={name}", (ECDsa)key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | (rsa ? X509KeyUsageFlags.KeyEncipherment : 0), true));
        var eku = new OidCollection();
        foreach (var usage in usages ?? [ServerAuth, ClientAuth]) eku.Add(usage);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(eku, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        var notBefore = DateTimeOffset.UtcNow.AddHours(-1);
        // The CA's key is EC: an RSA request is signed through a generator for the CA's key.
        using var issued = rsa
            ? request.Create(Authority.SubjectName, X509SignatureGenerator.CreateForECDsa(Authority.GetECDsaPrivateKey()!), notBefore, notAfter ?? DateTimeOffset.UtcNow.AddDays(7), Serial())
            : request.Create(Authority, notBefore, notAfter ?? DateTimeOffset.UtcNow.AddDays(7), Serial());
        return key is RSA rsaKey ? issued.CopyWithPrivateKey(rsaKey) : issued.CopyWithPrivateKey((ECDsa)key);
    }

    /// <summary>A copy of one 2048-bit RSA key made once per test run: making one takes a second or more on a busy
    /// machine, and certificates of different keys are EC in these tests.</summary>
    static RSA SharedRsaKey()
    {
        var copy = RSA.Create();
        copy.ImportParameters(RsaKey.Value.ExportParameters(includePrivateParameters: true));
        return copy;
    }

    static readonly Lazy<RSA> RsaKey = new(() => RSA.Create(2048));

    static byte[] Serial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        return serial;
    }

    static string Slug(string name) => name.ToLowerInvariant().Replace(' ', '-');
}
