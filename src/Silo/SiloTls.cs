using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Descent.Silo;

public static class SiloTls
{
    /// <summary>TLS on the silo's connections as section <c>Descent:Tls</c> says (<see cref="SiloTlsOptions"/>): nothing
    /// when no certificate is set. Silo-to-silo connections are mutual TLS (each end's certificate checked against
    /// the CA); the gateway asks clients for one as <see cref="SiloTlsOptions.ClientCertificate"/> says. The files are
    /// read when the silo opens its connections, after the settings were validated.</summary>
    public static ISiloBuilder AddDescentTls(this ISiloBuilder silo)
    {
        silo.Services.AddOptions<SiloConnectionOptions>().Configure<IOptions<DescentSiloOptions>, ILoggerFactory>((connections, settings, logs) =>
        {
            var tls = settings.Value.Tls;
            if (!tls.Enabled) return;
            var credentials = tls.Credentials();
            var log = logs.CreateLogger(typeof(SiloTls).FullName!);
            Action<string> refused = problem => log.LogWarning("TLS: refused a remote {Problem}", problem);
            var clients = tls.ClientCertificate switch
            {
                ClientCertificatePolicy.Required => RemoteCertificateMode.RequireCertificate,
                ClientCertificatePolicy.Optional => RemoteCertificateMode.AllowCertificate,
                _ => RemoteCertificateMode.NoCertificate,
            };
            var siloServer = WithTimeout(credentials.Server(RemoteCertificateMode.RequireCertificate, refused), tls);
            var gatewayServer = WithTimeout(credentials.Server(clients, refused), tls);
            var siloClient = WithTimeout(credentials.Client(refused), tls);
            connections.ConfigureSiloInboundConnection(connection => connection.UseServerTls(siloServer));
            connections.ConfigureGatewayInboundConnection(connection => connection.UseServerTls(gatewayServer));
            connections.ConfigureSiloOutboundConnection(connection => connection.UseClientTls(siloClient));
        });
        return silo;
    }

    static TlsOptions WithTimeout(TlsOptions options, SiloTlsOptions tls)
    {
        options.HandshakeTimeout = tls.HandshakeTimeout;
        return options;
    }
}
