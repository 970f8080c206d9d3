//! The server side's rustls configuration, as etcd's `TLSInfo.ServerConfig`: this
//! side's certificate, ALPN `h2`, TLS 1.2 and 1.3, and client certificates
//! required (verified against the CA file, refused if a CRL lists them) whenever a
//! CA file or `--client-cert-auth` is given.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use super::files::{self, Identity};
use super::suites;
use crate::config::TlsFlags;
use crate::env::Disk;

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
        let roots = files::roots(disk, &format!("{side}trusted-ca-file"), &flags.trusted_ca_file)?;
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .with_crls(crls)
            .allow_unknown_revocation_status()
            .build()
            .map_err(|e| format!("--{side}trusted-ca-file / --{crl_flag}: {e}"))?
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
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
