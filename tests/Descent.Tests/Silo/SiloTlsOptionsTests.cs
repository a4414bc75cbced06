using Descent.Client.Cluster;
using Descent.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Descent.Tests.Silo;

/// <summary>Section Descent:Tls and the client's --tls-* options: every certificate, key and CA file that cannot serve
/// is refused before anything starts, naming the setting and the path (never the file's content), and the checks of
/// a remote certificate accept only what the configured CA issued.</summary>
public sealed class SiloTlsOptionsTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("descent-tls-").FullName;
    readonly TestPki _pki;
    readonly TestPki _other;

    public SiloTlsOptionsTests()
    {
        _pki = new TestPki(Path.Combine(_folder, "pki"));
        _other = new TestPki(Path.Combine(_folder, "other"), "Other CA");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>What a silo host says of <paramref name="settings"/> (built, never started), as descent-silo and the
    /// embedded silo read them; the same as the validator's list when the settings bind.</summary>
    static IReadOnlyList<string> Problems(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddDescentSilo();
        using var host = builder.Build();
        var problems = host.SettingsProblems();
        var section = new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection(DescentSiloOptions.Section);
        if (!settings.ContainsKey("Descent:Tls:ClientCertificate") || Enum.TryParse<ClientCertificatePolicy>(settings["Descent:Tls:ClientCertificate"], out _))
            Assert.Equal(new DescentSiloOptionsValidator().Validate(Options.DefaultName, section.Get<DescentSiloOptions>() ?? new()).Failures ?? [], problems);
        return problems;
    }

    Dictionary<string, string?> Tls(string? certificate, string? key, string? ca = null, string? password = null) => new()
    {
        ["Descent:Tls:CertificatePath"] = certificate, ["Descent:Tls:KeyPath"] = key,
        ["Descent:Tls:CaPath"] = ca ?? _pki.AuthorityPath, ["Descent:Tls:Password"] = password,
    };

    static Dictionary<string, string?> With(Dictionary<string, string?> settings, string key, string value)
    {
        settings[key] = value;
        return settings;
    }

    [Fact]
    public void Tls_is_off_by_default_and_a_silo_certificate_as_pem_or_pkcs12_is_valid()
    {
        var defaults = new DescentSiloOptions().Tls;
        Assert.False(defaults.Enabled);
        Assert.Equal(ClientCertificatePolicy.Required, defaults.ClientCertificate);
        Assert.Empty(Problems([]));

        var (crt, key) = _pki.IssuePem("silo");
        Assert.Empty(Problems(Tls(crt, key)));
        // A PEM file holding the key after the certificate, as some tools write it.
        var combined = Path.Combine(_folder, "combined.pem");
        File.WriteAllText(combined, File.ReadAllText(crt) + File.ReadAllText(key));
        Assert.Empty(Problems(Tls(combined, null)));
        Assert.Empty(Problems(Tls(_pki.IssuePfx("silo-pfx", "s3cret"), null, password: "s3cret")));
        // Issued by an intermediate CA that the PEM file carries after the certificate; the silos trust the root only.
        var (chained, chainedKey) = _pki.Intermediate("Descent Intermediate CA").IssuePem("chained");
        Assert.Empty(Problems(Tls(chained, chainedKey)));
        Assert.Empty(Problems(With(Tls(crt, key), "Descent:Tls:ClientCertificate", "Optional")));
    }

    [Fact]
    public void Each_unusable_file_is_named_with_its_setting_and_path()
    {
        var (crt, key) = _pki.IssuePem("silo");
        var (otherCrt, otherKey) = _pki.IssuePem("other-silo");
        var (rogue, rogueKey) = _other.IssuePem("rogue");
        var (clientOnly, clientOnlyKey) = _pki.IssuePem("client-only", [TestPki.ClientAuth]);
        var (expired, expiredKey) = _pki.IssuePem("expired", notAfter: DateTimeOffset.UtcNow.AddMinutes(-10));
        var pfx = _pki.IssuePfx("silo-pfx", "right");
        // A file that is no certificate, with a secret in it: no message may quote it.
        var passwd = Path.Combine(_folder, "passwd");
        File.WriteAllText(passwd, "root:x:0:0:s3cr3t-T0KEN:/root:/bin/bash\n");
        var missing = Path.Combine(_folder, "missing.crt");
        // Two CA files joined with cat, the first without its last newline.
        var joined = Path.Combine(_folder, "joined.crt");
        File.WriteAllText(joined, File.ReadAllText(_pki.AuthorityPath).TrimEnd() + File.ReadAllText(_other.AuthorityPath));
        const string Cert = "Descent:Tls:CertificatePath", Key = "Descent:Tls:KeyPath", Ca = "Descent:Tls:CaPath";
        var cases = new (Dictionary<string, string?> Settings, string Expected)[]
        {
            (Tls(missing, key), $"{Cert} = \"{missing}\": no such file"),
            (Tls(_folder, key), $"{Cert} = \"{_folder}\": is a folder, not a file"),
            (Tls(crt, missing), $"{Key} = \"{missing}\": no such file"),
            (Tls(crt, key, ca: missing), $"{Ca} = \"{missing}\": no such file"),
            (Tls(crt, key, ca: passwd), $"{Ca} = \"{passwd}\": holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            (Tls(crt, key, ca: joined), $"{Ca} = \"{joined}\": its PEM certificates cannot be read: every -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- line must stand on a line of its own"),
            (Tls(crt, null), $"{Cert} = \"{crt}\": holds no private key; give the key file as {Key}"),
            (Tls(crt, crt), $"{Key} = \"{crt}\": holds no PEM private key (-----BEGIN PRIVATE KEY-----)"),
            (Tls(crt, otherKey), $"{Key} = \"{otherKey}\": does not match the certificate in {crt} (CN=silo): it is the private key of another certificate"),
            (Tls(passwd, key), $"{Cert} = \"{passwd}\": holds no certificate: it is neither PEM (-----BEGIN CERTIFICATE-----), DER nor PKCS#12 (.pfx)"),
            (Tls(passwd, null), $"{Cert} = \"{passwd}\": holds no certificate: it is neither PEM (-----BEGIN CERTIFICATE-----), DER nor PKCS#12 (.pfx)"),
            (Tls(pfx, null, password: "wrong"), $"{Cert} = \"{pfx}\": a PKCS#12 file that Descent:Tls:Password does not open: wrong password"),
            (Tls(expired, expiredKey), $"{Cert} = \"{expired}\": its certificate (CN=expired) expired at "),
            (Tls(clientOnly, clientOnlyKey),
                $"{Cert} = \"{clientOnly}\": its certificate (CN=client-only) is not for server authentication (its extended key usage lists client authentication); a silo's certificate serves both ends of silo-to-silo connections"),
            (Tls(rogue, rogueKey),
                $"{Cert} = \"{rogue}\": not trusted by {Ca} = \"{_pki.AuthorityPath}\", so other silos would refuse it: certificate CN=rogue (issued by CN=Other CA): it is not issued by a trusted CA"),
            (Tls(null, key, ca: ""), $"{Key} = \"{key}\": set without {Cert}; TLS needs this silo's certificate"),
            (Tls(crt, key, ca: "") , $"{Ca} = \"\": required with {Cert}: the CA that issues the cluster's certificates (its ca.crt)"),
            (With(Tls(crt, key), "Descent:Tls:HandshakeTimeout", "00:00:00"), "Descent:Tls:HandshakeTimeout = 00:00:00: must be above 0"),
            (With(Tls(crt, key), "Descent:Tls:ClientCertificate", "Sometimes"),
                "Failed to convert configuration value 'Sometimes' at 'Descent:Tls:ClientCertificate' to type 'Descent.Silo.ClientCertificatePolicy'."),
        };
        foreach (var (settings, expected) in cases)
        {
            var problem = Assert.Single(Problems(settings));
            Assert.StartsWith(expected, problem);
            Assert.DoesNotContain("s3cr3t", problem);
            Assert.DoesNotContain("\n", problem);
        }
    }

    [Fact]
    public void A_remote_certificate_is_trusted_only_when_the_configured_ca_issued_it_for_that_purpose()
    {
        var credentials = new SiloTlsOptions { CertificatePath = _pki.IssuePem("silo").Certificate, KeyPath = Path.Combine(_pki.Folder, "silo.key"), CaPath = _pki.AuthorityPath }
            .Credentials();
        using var client = Load(_pki.IssuePem("client", [TestPki.ClientAuth]));
        using var rogue = Load(_other.IssuePem("rogue", [TestPki.ClientAuth]));
        var intermediate = _pki.Intermediate("Intermediate CA");
        using var chained = Load(intermediate.IssuePem("chained", [TestPki.ClientAuth]));
        using var expired = Load(_pki.IssuePem("expired", [TestPki.ClientAuth], DateTimeOffset.UtcNow.AddMinutes(-10)));
        Assert.Null(credentials.TrustProblem(client, null, TlsCredentials.ClientAuthentication));
        Assert.Equal("certificate CN=client (issued by CN=Descent Test CA): it is not for server authentication",
            credentials.TrustProblem(client, null, TlsCredentials.ServerAuthentication));
        Assert.Equal("certificate CN=rogue (issued by CN=Other CA): it is not issued by a trusted CA",
            credentials.TrustProblem(rogue, null, TlsCredentials.ClientAuthentication));
        Assert.Contains("it has expired or is not yet valid", credentials.TrustProblem(expired, null, TlsCredentials.ClientAuthentication));
        // An intermediate's certificate chains to the root when the intermediate comes with it (as TLS sends it), not without.
        Assert.Equal("certificate CN=chained (issued by CN=Intermediate CA): it is not issued by a trusted CA",
            credentials.TrustProblem(chained, null, TlsCredentials.ClientAuthentication));
        using var presented = new System.Security.Cryptography.X509Certificates.X509Chain();
        presented.ChainPolicy.ExtraStore.Add(intermediate.Authority);
        Assert.Null(credentials.TrustProblem(chained, presented, TlsCredentials.ClientAuthentication));
        // The machine's trust store counts for nothing: a CA of the operator's own or nothing.
    }

    static System.Security.Cryptography.X509Certificates.X509Certificate2 Load((string Certificate, string Key) files) =>
        System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(files.Certificate, files.Key);

    [Fact]
    public void The_client_options_name_the_option_or_variable_and_the_path()
    {
        var (crt, key) = _pki.IssuePem("client", [TestPki.ClientAuth]);
        var (serverOnly, serverOnlyKey) = _pki.IssuePem("server-only", [TestPki.ServerAuth]);
        var missing = Path.Combine(_folder, "missing.crt");
        Assert.Null(ClientTls.From(null, null, null, embedded: false));
        Assert.Null(ClientTls.From(null, null, null, embedded: true));
        Assert.Null(ClientTls.From(null, null, _pki.AuthorityPath, embedded: false)!.Credentials.Certificate);
        Assert.Equal("CN=client", ClientTls.From(crt, key, _pki.AuthorityPath, embedded: false)!.Credentials.Certificate!.Subject);
        var cases = new (string? Cert, string? Key, string? Ca, bool Embedded, string Expected)[]
        {
            (missing, key, _pki.AuthorityPath, false, $"--tls-cert = \"{missing}\": no such file"),
            (crt, missing, _pki.AuthorityPath, false, $"--tls-key = \"{missing}\": no such file"),
            (crt, key, missing, false, $"--tls-ca = \"{missing}\": no such file"),
            (crt, key, null, false, $"--tls-cert = \"{crt}\": TLS needs --tls-ca too, the CA that issued the cluster's certificates (its ca.crt)"),
            (null, key, _pki.AuthorityPath, false, $"--tls-key = \"{key}\": the key of a certificate; give the certificate as --tls-cert"),
            (crt, null, _pki.AuthorityPath, false, $"--tls-cert = \"{crt}\": holds no private key; give the key file as --tls-key"),
            (serverOnly, serverOnlyKey, _pki.AuthorityPath, false,
                $"--tls-cert = \"{serverOnly}\": its certificate (CN=server-only) is not for client authentication (its extended key usage lists server authentication)"),
            (null, null, _pki.AuthorityPath, true, $"--tls-ca = \"{_pki.AuthorityPath}\": only with --cluster; the embedded silo needs no TLS"),
        };
        foreach (var (cert, k, ca, embedded, expected) in cases)
            Assert.Equal(expected, Assert.Throws<UsageException>(() => ClientTls.From(cert, k, ca, embedded)).Message);
    }
}
