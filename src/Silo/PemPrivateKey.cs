using System.Text.RegularExpressions;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Utilities.IO.Pem;

namespace Descent.Silo;

/// <summary>
/// A private key read from a PEM file in any of the forms OpenSSL writes: PKCS#8 (<c>PRIVATE KEY</c>), encrypted
/// PKCS#8 (<c>ENCRYPTED PRIVATE KEY</c>: <c>openssl genpkey -aes256</c>, <c>openssl pkcs8 -topk8</c>, OpenSSL 3's
/// <c>openssl rsa -aes256</c>), and the "traditional" PKCS#1 and SEC1 forms (<c>RSA PRIVATE KEY</c>,
/// <c>EC PRIVATE KEY</c>), plain or encrypted with a <c>Proc-Type: 4,ENCRYPTED</c> and <c>DEK-Info</c> header
/// (<c>openssl ec -aes256</c>, OpenSSL 1.x's <c>openssl genrsa -aes256</c>). .NET reads only PKCS#8 when encrypted, so
/// BouncyCastle (BouncyCastle.Cryptography) reads and decrypts them; the key is handed on as PKCS#8.
/// </summary>
/// <param name="Algorithm">The key's algorithm OID (RFC 5280's, as <see cref="System.Security.Cryptography.X509Certificates.X509Certificate.GetKeyAlgorithm"/>
/// gives a certificate's): <c>1.2.840.113549.1.1.1</c> RSA, <c>1.2.840.10045.2.1</c> EC.</param>
/// <param name="Pkcs8">The key as unencrypted PKCS#8 DER.</param>
public sealed record PemPrivateKey(string Algorithm, byte[] Pkcs8)
{
    static readonly Regex Block = new(@"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?-----END \1-----", RegexOptions.Singleline | RegexOptions.CultureInvariant);

    /// <summary>Reads the one private key in <paramref name="text"/>, decrypting it with <paramref name="password"/>
    /// when it is encrypted. Throws <see cref="TlsFileException"/>, starting with <paramref name="setting"/> (the
    /// setting and its path) and never quoting the file: no private key, more than one, a malformed one, an encrypted
    /// one without a password (naming <paramref name="passwordSetting"/>), a password that does not decrypt it, or
    /// an encryption BouncyCastle does not know.</summary>
    public static PemPrivateKey Read(string text, string? password, string setting, string passwordSetting)
    {
        var blocks = Block.Matches(text);
        if (blocks.Count == 0)
            throw new TlsFileException(Regex.IsMatch(text, "-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
                ? $"{setting}: its private key is malformed: the -----BEGIN ... PRIVATE KEY----- line has no matching -----END line"
                : $"{setting}: holds no PEM private key (-----BEGIN PRIVATE KEY-----)");
        if (blocks.Count > 1)
            throw new TlsFileException($"{setting}: holds {blocks.Count} private keys; give a file with one, the certificate's");
        var label = blocks[0].Groups[1].Value;
        var malformed = $"{setting}: its private key (-----BEGIN {label}-----) is malformed";
        if (label == "OPENSSH PRIVATE KEY")
            throw new TlsFileException($"{setting}: holds an OpenSSH key (ssh-keygen's format), not a TLS one; convert it with: openssl pkey -in FILE -out tls.key");
        if (label is not ("PRIVATE KEY" or "ENCRYPTED PRIVATE KEY" or "RSA PRIVATE KEY" or "EC PRIVATE KEY" or "DSA PRIVATE KEY"))
            throw new TlsFileException($"{setting}: holds a -----BEGIN {label}----- block, not a private key in a form OpenSSL writes (PKCS#8, PKCS#1 or SEC1)");
        var block = blocks[0].Value;

        PemObject pem;
        try
        {
            pem = new Org.BouncyCastle.Utilities.IO.Pem.PemReader(new StringReader(block)).ReadPemObject();
        }
        catch (Exception e) when (e is IOException or FormatException or ArgumentException)
        {
            throw new TlsFileException($"{malformed}: its base64 text or headers cannot be read");
        }
        if (pem.Content.Length == 0) throw new TlsFileException($"{malformed}: it is empty");
        var headers = pem.Headers.OfType<PemHeader>().ToDictionary(h => h.Name, h => h.Value, StringComparer.OrdinalIgnoreCase);
        var traditional = headers.TryGetValue("Proc-Type", out var procType) && procType.Replace(" ", "") == "4,ENCRYPTED";
        var encrypted = traditional || label == "ENCRYPTED PRIVATE KEY";

        // The structure is checked before any password is tried, so a failure to decrypt means a wrong password.
        EncryptedPrivateKeyInfo? pkcs8Encrypted = null;
        if (label == "ENCRYPTED PRIVATE KEY")
        {
            try
            {
                pkcs8Encrypted = EncryptedPrivateKeyInfo.GetInstance(pem.Content);
            }
            catch (Exception e) when (e is ArgumentException or InvalidCastException or IOException or InvalidOperationException)
            {
                throw new TlsFileException($"{malformed}: it is not an encrypted PKCS#8 structure");
            }
        }
        if (traditional)
        {
            var dek = headers.GetValueOrDefault("DEK-Info")?.Split(',');
            if (dek is not [{ Length: > 0 }, { Length: > 0 } iv] || !iv.Trim().All(Uri.IsHexDigit))
                throw new TlsFileException($"{malformed}: its Proc-Type says encrypted, but it has no DEK-Info: CIPHER,IV header");
        }
        if (encrypted && password is null)
            throw new TlsFileException($"{setting}: its private key is encrypted; give its password as {passwordSetting}");

        AsymmetricKeyParameter key;
        try
        {
            key = pkcs8Encrypted is not null
                ? PrivateKeyFactory.DecryptKey(password!.ToCharArray(), pkcs8Encrypted)
                : new Org.BouncyCastle.OpenSsl.PemReader(new StringReader(block), new Password(password)).ReadObject() switch
                {
                    AsymmetricCipherKeyPair pair => pair.Private,
                    AsymmetricKeyParameter single => single,
                    _ => throw new TlsFileException($"{malformed}: it holds no private key"),
                };
        }
        catch (Exception e) when (e is SecurityUtilityException or Org.BouncyCastle.OpenSsl.EncryptionException or NotSupportedException)
        {
            throw new TlsFileException($"{setting}: its private key is encrypted in a way this program cannot decrypt ({e.Message}); re-encrypt it with: openssl pkcs8 -topk8 -v2 aes256");
        }
        catch (Exception e) when (e is CryptoException or PemException or IOException or ArgumentException or InvalidCastException or InvalidOperationException)
        {
            throw new TlsFileException(encrypted
                ? $"{setting}: {passwordSetting} does not decrypt its private key: wrong password"
                : $"{malformed}: it is not a valid {label} structure");
        }
        if (!key.IsPrivate) throw new TlsFileException($"{malformed}: it holds a public key only");
        var info = PrivateKeyInfoFactory.CreatePrivateKeyInfo(key);
        return new PemPrivateKey(info.PrivateKeyAlgorithm.Algorithm.Id, info.GetDerEncoded());
    }

    sealed class Password(string? password) : IPasswordFinder
    {
        public char[]? GetPassword() => password?.ToCharArray();
    }
}
