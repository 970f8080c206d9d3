//! The peer client: connects to `https://` peer URLs, as etcd's peer transport does.
//! It presents this member's peer certificate (the other side may require one) and
//! verifies the other side against `--peer-trusted-ca-file`, or not at all with
//! `--peer-auto-tls` (etcd sets `InsecureSkipVerify` for self-signed certificates).
//!
//! tonic's own TLS is not used: the channel is made for `http://host:port` with a
//! connector that dials TCP and runs the TLS handshake itself (tonic, built with a
//! TLS feature for some other crate, would otherwise refuse an `https` endpoint it
//! has no TLS configuration for).

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Channel, Endpoint};

use super::files::{self, Identity};
use super::suites;
use crate::config::TlsFlags;
use crate::env::Disk;

/// The peer client configuration, if this member has any peer TLS (a certificate
/// of its own, auto-TLS, or a CA to verify peers with).
pub fn peer_config(
    disk: &dyn Disk,
    provider: &Arc<CryptoProvider>,
    id: Option<&Identity>,
    flags: &TlsFlags,
) -> Result<Option<Arc<ClientConfig>>, String> {
    let self_signed = id.is_some_and(|i| i.self_signed);
    if id.is_none() && flags.trusted_ca_file.is_empty() {
        return Ok(None);
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&suites::versions(provider))
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = if self_signed {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(SkipVerify(provider.clone())))
    } else {
        let roots = match flags.trusted_ca_file.as_str() {
            "" => {
                tracing::warn!(
                    "no --peer-trusted-ca-file: the certificates of https:// peers cannot be verified and are refused"
                );
                rustls::RootCertStore::empty()
            }
            path => files::roots(disk, "peer-trusted-ca-file", path)?,
        };
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("--peer-trusted-ca-file: {e}"))?;
        builder.with_webpki_verifier(verifier)
    };
    let mut config = match id {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| format!("--peer-cert-file / --peer-key-file: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// Connect a channel to the `https://` URL `url`.
pub async fn connect(config: Arc<ClientConfig>, url: &str) -> Result<Channel, String> {
    let (host, port, _) = crate::config::url_host_port(url)?;
    let server_name = ServerName::try_from(host.clone())
        .map_err(|e| format!("peer URL {url}: bad host name: {e}"))?
        .to_owned();
    let dial = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let endpoint = Endpoint::from_shared(format!("http://{dial}")).map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let connect = tower::service_fn(move |_: tonic::codegen::http::Uri| {
        let (connector, name, dial) = (connector.clone(), server_name.clone(), dial.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&dial).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    endpoint.connect_with_connector(connect).await.map_err(|e| super::error_chain(&e))
}

/// etcd's `InsecureSkipVerify` for auto-TLS peers: any certificate is accepted, but
/// the handshake signatures are still checked (the peer must hold the key of the
/// certificate it shows).
#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
