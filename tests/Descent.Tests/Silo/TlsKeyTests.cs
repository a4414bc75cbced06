using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Descent.Client.Cluster;
using Descent.Silo;

namespace Descent.Tests.Silo;

/// <summary>Private keys as OpenSSL writes them (the <c>openssl</c> command converts a test certificate's key): every
/// encrypted form OpenSSL writes by default loads with its password, and each way a key or certificate file cannot
/// serve has its own line, naming the setting and the path: a missing password, a wrong one, a malformed key, a key
/// of another certificate, an empty or missing file. <see cref="TlsCredentials.Load"/> only reads files: no silo.</summary>
public sealed class TlsKeyTests : IDisposable
{
    const string Password = "corr3ct horse";
    const string Cert = "Descent:Tls:CertificatePath", Key = "Descent:Tls:KeyPath", PasswordSetting = "Descent:Tls:Password";

    readonly string _folder = Directory.CreateTempSubdirectory("descent-tls-keys-").FullName;
    readonly TestPki _pki;

    public TlsKeyTests() => _pki = new TestPki(Path.Combine(_folder, "pki"));

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Runs openssl with <paramref name="arguments"/> on <paramref name="key"/>, writing <paramref name="name"/>.</summary>
    string OpenSsl(string key, string name, params string[] arguments)
    {
        var output = Path.Combine(_folder, name);
        var start = new ProcessStartInfo("openssl") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var argument in new[] { "-in", key, "-out", output }) start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"these tests need the openssl command (Debian: apt-get install openssl): {e.Message}");
        }
        using (process)
        {
            var error = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', arguments)}: {error.Result}");
        }
        return output;
    }

    TlsCredentials Load(string? certificate, string? key, string? password) =>
        TlsCredentials.Load(certificate, key, password, _pki.AuthorityPath, SiloTlsOptions.Names);

    string Problem(string? certificate, string? key, string? password)
    {
        var problem = Assert.Throws<TlsFileException>(() => Load(certificate, key, password)).Message;
        Assert.DoesNotContain("\n", problem);
        if (password is not null) Assert.DoesNotContain(password, problem);
        return problem;
    }

    /// <summary>The forms and the commands that write them: OpenSSL 3's defaults (<c>openssl ec -aes256</c> writes the
    /// traditional form with Proc-Type and DEK-Info; <c>openssl rsa</c>, <c>pkey</c>, <c>genpkey</c> encrypt as PKCS#8
    /// with PBES2), OpenSSL 1.x's (<c>openssl genrsa -aes256</c> and <c>-des3</c>: traditional; <c>pkcs8 -topk8</c>:
    /// PBE-SHA1-3DES), and the unencrypted PKCS#1, SEC1 and PKCS#8 forms.</summary>
    public static TheoryData<string, bool, string[]> Forms => new()
    {
        { "EC traditional, AES-256 (openssl ec -aes256)", false, ["ec", "-aes256", "-passout", $"pass:{Password}"] },
        { "RSA traditional, AES-256 (OpenSSL 1.x genrsa -aes256)", true, ["rsa", "-traditional", "-aes256", "-passout", $"pass:{Password}"] },
        { "RSA traditional, 3DES (OpenSSL 1.x genrsa -des3)", true, ["rsa", "-traditional", "-des3", "-passout", $"pass:{Password}"] },
        { "RSA PKCS#8, AES-256 (OpenSSL 3 rsa -aes256)", true, ["rsa", "-aes256", "-passout", $"pass:{Password}"] },
        { "EC PKCS#8, AES-256 (OpenSSL 3 pkey/genpkey -aes256)", false, ["pkey", "-aes256", "-passout", $"pass:{Password}"] },
        { "EC PKCS#8 v2 AES-256 (pkcs8 -topk8 -v2 aes256)", false, ["pkcs8", "-topk8", "-v2", "aes256", "-passout", $"pass:{Password}"] },
        { "EC PKCS#8 v1 PBE-SHA1-3DES (OpenSSL 1.0 pkcs8 -topk8)", false, ["pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-passout", $"pass:{Password}"] },
        { "RSA PKCS#1, unencrypted", true, ["rsa", "-traditional"] },
        { "EC SEC1, unencrypted", false, ["ec"] },
        { "EC PKCS#8, unencrypted", false, ["pkey"] },
    };

    [Theory]
    [MemberData(nameof(Forms))]
    public void A_key_in_a_form_openssl_writes_loads_with_its_password(string form, bool rsa, string[] openssl)
    {
        var (crt, key) = _pki.IssuePem("silo", rsa: rsa);
        var converted = OpenSsl(key, "converted.key", openssl);
        var encrypted = openssl.Contains("-passout");
        var credentials = Load(crt, converted, encrypted ? Password : null);
        Assert.True(credentials.Certificate!.HasPrivateKey, form);
        // The key signs as the certificate's public key verifies: it is the certificate's own.
        var data = "descent"u8.ToArray();
        if (rsa)
            Assert.True(credentials.Certificate.GetRSAPublicKey()!.VerifyData(data,
                credentials.Certificate.GetRSAPrivateKey()!.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
                HashAlgorithmName.SHA256, RSASignaturePadding.Pss), form);
        else
            Assert.True(credentials.Certificate.GetECDsaPublicKey()!.VerifyData(data,
                credentials.Certificate.GetECDsaPrivateKey()!.SignData(data, HashAlgorithmName.SHA256),
                HashAlgorithmName.SHA256), form);
        if (encrypted)
            Assert.Equal($"{Key} = \"{converted}\": its private key is encrypted; give its password as {PasswordSetting}", Problem(crt, converted, null));
    }

    [Theory]
    [InlineData("ec", false, "-aes256")]
    [InlineData("rsa", true, "-traditional")]
    [InlineData("pkcs8", false, "-topk8")]
    [InlineData("pkey", false, "-aes256")]
    public void A_wrong_password_is_named_as_such(string command, bool rsa, string option)
    {
        var (crt, key) = _pki.IssuePem("silo", rsa: rsa);
        string[] arguments = command == "rsa" ? [command, option, "-aes256"] : [command, option];
        var encrypted = OpenSsl(key, "encrypted.key", [.. arguments, "-passout", $"pass:{Password}"]);
        foreach (var wrong in new[] { "hunter2", Password + " ", "Corr3ct horse" })
            Assert.Equal($"{Key} = \"{encrypted}\": {PasswordSetting} does not decrypt its private key: wrong password", Problem(crt, encrypted, wrong));
    }

    [Fact]
    public void A_malformed_key_is_named_as_malformed()
    {
        var (crt, key) = _pki.IssuePem("silo");
        var encrypted = OpenSsl(key, "encrypted.key", "pkcs8", "-topk8", "-v2", "aes256", "-passout", $"pass:{Password}");
        var traditional = OpenSsl(key, "traditional.key", "ec", "-aes256", "-passout", $"pass:{Password}");
        string Write(string name, string text)
        {
            var path = Path.Combine(_folder, name);
            File.WriteAllText(path, text);
            return path;
        }
        var lines = File.ReadAllLines(key);
        // A line lost, or cut short, as a bad copy and paste leaves them.
        var lineLost = Write("line-lost.key", string.Join('\n', lines.Where((_, i) => i != 1)) + "\n");
        var truncated = Write("truncated.key", string.Join('\n', lines.Take(2).Append(lines[2][..10]).Append(lines[^1])) + "\n");
        var noEnd = Write("no-end.key", string.Join('\n', lines[..^1]) + "\n");
        var notBase64 = Write("not-base64.key", string.Join('\n', lines[0], "this is not base64 at all!", lines[^1]) + "\n");
        var encryptedLines = File.ReadAllLines(encrypted);
        var encryptedCut = Write("encrypted-cut.key", string.Join('\n', encryptedLines[0], encryptedLines[1], encryptedLines[^1]) + "\n");
        var noDekInfo = Write("no-dek-info.key", string.Join('\n', File.ReadAllLines(traditional).Where(l => !l.StartsWith("DEK-Info", StringComparison.Ordinal))) + "\n");
        var ssh = Write("id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n");
        var two = Write("two.key", File.ReadAllText(key) + File.ReadAllText(key));
        var cases = new (string Path, string? Password, string Expected)[]
        {
            (lineLost, null, $"{Key} = \"{lineLost}\": its private key (-----BEGIN PRIVATE KEY-----) is malformed: it is not a valid PRIVATE KEY structure"),
            (truncated, null, $"{Key} = \"{truncated}\": its private key (-----BEGIN PRIVATE KEY-----) is malformed: its base64 text or headers cannot be read"),
            (noEnd, null, $"{Key} = \"{noEnd}\": its private key is malformed: the -----BEGIN ... PRIVATE KEY----- line has no matching -----END line"),
            (notBase64, null, $"{Key} = \"{notBase64}\": its private key (-----BEGIN PRIVATE KEY-----) is malformed: its base64 text or headers cannot be read"),
            (encryptedCut, Password, $"{Key} = \"{encryptedCut}\": its private key (-----BEGIN ENCRYPTED PRIVATE KEY-----) is malformed: it is not an encrypted PKCS#8 structure"),
            (noDekInfo, Password, $"{Key} = \"{noDekInfo}\": its private key (-----BEGIN EC PRIVATE KEY-----) is malformed: its Proc-Type says encrypted, but it has no DEK-Info: CIPHER,IV header"),
            (ssh, null, $"{Key} = \"{ssh}\": holds an OpenSSH key (ssh-keygen's format), not a TLS one; convert it with: openssl pkey -in FILE -out tls.key"),
            (two, null, $"{Key} = \"{two}\": holds 2 private keys; give a file with one, the certificate's"),
        };
        foreach (var (path, password, expected) in cases)
            Assert.Equal(expected, Problem(crt, path, password));
    }

    [Fact]
    public void A_key_of_another_certificate_is_named_as_not_matching()
    {
        var (crt, _) = _pki.IssuePem("silo");
        var (_, otherKey) = _pki.IssuePem("other");
        var (_, rsaKey) = _pki.IssuePem("rsa", rsa: true);
        var otherEncrypted = OpenSsl(otherKey, "other-encrypted.key", "ec", "-aes256", "-passout", $"pass:{Password}");
        Assert.Equal($"{Key} = \"{otherKey}\": does not match the certificate in {crt} (CN=silo): it is the private key of another certificate",
            Problem(crt, otherKey, null));
        Assert.Equal($"{Key} = \"{otherEncrypted}\": does not match the certificate in {crt} (CN=silo): it is the private key of another certificate",
            Problem(crt, otherEncrypted, Password));
        Assert.Equal($"{Key} = \"{rsaKey}\": does not match the certificate in {crt} (CN=silo): it is an RSA key, the certificate's is an EC key",
            Problem(crt, rsaKey, null));
    }

    [Fact]
    public void An_empty_or_missing_file_is_named_by_its_own_setting()
    {
        var (crt, key) = _pki.IssuePem("silo");
        var empty = Path.Combine(_folder, "empty");
        File.WriteAllText(empty, "");
        var missing = Path.Combine(_folder, "missing.crt");
        Assert.Equal($"{Cert} = \"{empty}\": is empty", Problem(empty, key, null));
        Assert.Equal($"{Cert} = \"{empty}\": is empty", Problem(empty, null, null));
        Assert.Equal($"{Cert} = \"{missing}\": no such file", Problem(missing, key, null));
        Assert.Equal($"{Key} = \"{empty}\": is empty", Problem(crt, empty, null));
        // The client names its options the same way.
        Assert.Equal($"--tls-cert = \"{empty}\": is empty", Assert.Throws<UsageException>(() => ClientTls.From(empty, key, _pki.AuthorityPath, embedded: false)).Message);
        Assert.Equal($"--tls-key = \"{empty}\": is empty", Assert.Throws<UsageException>(() => ClientTls.From(crt, empty, _pki.AuthorityPath, embedded: false)).Message);
    }

    [Fact]
    public void A_pkcs12_file_tells_a_wrong_password_from_another_kind_of_file()
    {
        var pfx = _pki.IssuePfx("silo-pfx", Password);
        var (crt, key) = _pki.IssuePem("silo");
        var der = OpenSsl(crt, "silo.der", "x509", "-outform", "DER");
        Assert.True(Load(pfx, null, Password).Certificate!.HasPrivateKey);
        Assert.StartsWith($"{Cert} = \"{pfx}\": a PKCS#12 file that {PasswordSetting} does not open: wrong password", Problem(pfx, null, "hunter2"));
        Assert.Equal($"{Cert} = \"{pfx}\": a PKCS#12 file that does not open without a password; give it as {PasswordSetting}", Problem(pfx, null, null));
        Assert.Equal($"{Key} = \"{key}\": only for a PEM or DER certificate; {pfx} is a PKCS#12 file, which holds its own key", Problem(pfx, key, Password));
        // A DER certificate with its PEM key serves as its PEM form does.
        Assert.True(Load(der, key, null).Certificate!.HasPrivateKey);
        Assert.Equal($"{Cert} = \"{der}\": holds no private key; give the key file as {Key}", Problem(der, null, null));
        Assert.Equal($"{Cert} = \"{key}\": holds no PEM certificate (-----BEGIN CERTIFICATE-----)", Problem(key, key, null));
    }
}
