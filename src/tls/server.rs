//! The server side's rustls configuration, as etcd's `TLSInfo.ServerConfig`: this
//! side's certificate, ALPN `h2`, TLS 1.2 and 1.3, and client certificates
//! required (verified against the CA file, refused if a CRL lists them) whenever a
//! CA file or `--client-cert-auth` is given.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use super::files::{self, Identity};
use super::suites;
use crate::config::TlsFlags;
use crate::env::Disk;

/// A client certificate that is itself one of the trusted CA certificates is
/// accepted as it is, as Go's verifier accepts it (a chain of one trusted
/// certificate); webpki refuses a CA certificate as a leaf. Everything else is
/// webpki's decision. (Not used with a CRL: webpki alone then checks revocation.)
#[derive(Debug)]
struct AnchorAsLeaf {
    anchors: Vec<rustls_pki_types::CertificateDer<'static>>,
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for AnchorAsLeaf {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        now: rustls_pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.anchors.iter().any(|a| a.as_ref() == end_entity.as_ref()) {
            return Ok(ClientCertVerified::assertion());
        }
        self.inner.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Build the configuration for one side (`side` is `""` or `"peer-"`).
pub fn config(
    disk: &dyn Disk,
    provider: &Arc<CryptoProvider>,
    id: &Identity,
    flags: &TlsFlags,
    side: &str,
) -> Result<Arc<ServerConfig>, String> {
    let crl_flag = if side.is_empty() { "client-crl-file" } else { "peer-crl-file" };
    let crls = match flags.crl_file.as_str() {
        "" => Vec::new(),
        path => files::crls(disk, crl_flag, path)?,
    };
    let verifier = if !flags.trusted_ca_file.is_empty() {
        let flag = format!("{side}trusted-ca-file");
        let roots = files::roots(disk, &flag, &flags.trusted_ca_file)?;
        let revoked = !crls.is_empty();
        let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .with_crls(crls)
            .allow_unknown_revocation_status()
            .build()
            .map_err(|e| format!("--{side}trusted-ca-file / --{crl_flag}: {e}"))?;
        if revoked {
            webpki
        } else {
            let anchors = files::certs(disk, &flag, &flags.trusted_ca_file)?;
            Arc::new(AnchorAsLeaf { anchors, inner: webpki })
        }
    } else if flags.client_cert_auth {
        return Err(format!(
            "--{side}client-cert-auth needs --{side}trusted-ca-file: client certificates are verified against it"
        ));
    } else {
        if !crls.is_empty() {
            tracing::warn!(
                "--{crl_flag} has no effect without --{side}trusted-ca-file (no client certificates)"
            );
        }
        WebPkiClientVerifier::no_client_auth()
    };
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&suites::versions(provider))
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .map_err(|e| format!("--{side}cert-file / --{side}key-file: {e}"))?;
    // h2 for gRPC; http/1.1 for the JSON gateway, health and metrics (server::http).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
