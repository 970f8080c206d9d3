//! Certificates, keys, CAs and CRLs from the files the flags name (read through the
//! Disk facade), and the `--auto-tls` self-signed certificate.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::config::TlsFlags;
use crate::env::Disk;

/// A certificate chain and its key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Made by `--auto-tls` (peers then skip verifying each other, as etcd does).
    pub self_signed: bool,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity { chain: self.chain.clone(), key: self.key.clone_key(), self_signed: self.self_signed }
    }
}

fn read(disk: &dyn Disk, flag: &str, path: &str) -> Result<Vec<u8>, String> {
    disk.read(Path::new(path)).map_err(|e| format!("--{flag} {path}: {e}"))
}

/// Every certificate in a PEM file (at least one).
pub fn certs(disk: &dyn Disk, flag: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(disk, flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--{flag} {path}: not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("--{flag} {path}: no certificate in it"));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#1, SEC1 or PKCS#8).
pub fn key(disk: &dyn Disk, flag: &str, path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(disk, flag, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| format!("--{flag} {path}: no private key in it: {e}"))
}

/// A CA bundle as a root store.
pub fn roots(disk: &dyn Disk, flag: &str, path: &str) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in certs(disk, flag, path)? {
        store.add(cert).map_err(|e| format!("--{flag} {path}: unusable CA certificate: {e}"))?;
    }
    Ok(store)
}

/// The CRLs of a file, PEM (one or more) or a single DER one (as etcd's
/// `x509.ParseCRL` takes either).
pub fn crls(
    disk: &dyn Disk,
    flag: &str,
    path: &str,
) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let bytes = read(disk, flag, path)?;
    if !bytes.trim_ascii_start().starts_with(b"-----") {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--{flag} {path}: not a PEM CRL file: {e}"))?;
    if crls.is_empty() {
        return Err(format!("--{flag} {path}: no CRL in it"));
    }
    Ok(crls)
}

/// This side's certificate: from `--{side}cert-file`/`--{side}key-file`, else
/// self-signed with `--{side}auto-tls` for the hosts of `listen_urls`, else none.
pub fn identity(
    disk: &dyn Disk,
    flags: &TlsFlags,
    side: &str,
    listen_urls: &[String],
) -> Result<Option<Identity>, String> {
    match (flags.cert_file.is_empty(), flags.key_file.is_empty()) {
        (false, false) => {
            if flags.auto_tls {
                let which = if side.is_empty() { "client" } else { "peer" };
                tracing::warn!("ignoring {which} auto TLS since certs given");
            }
            let chain = certs(disk, &format!("{side}cert-file"), &flags.cert_file)?;
            let key = key(disk, &format!("{side}key-file"), &flags.key_file)?;
            Ok(Some(Identity { chain, key, self_signed: false }))
        }
        (true, true) if flags.auto_tls => self_signed(listen_urls).map(Some),
        (true, true) => Ok(None),
        _ => Err(format!(
            "--{side}cert-file and --{side}key-file must both be present [key: {:?}, cert: {:?}]",
            flags.key_file, flags.cert_file
        )),
    }
}

/// A self-signed certificate (ECDSA P-256) for the hosts of `listen_urls`: IP
/// addresses as IP names, anything else as DNS names. Usable to serve and, for
/// peers, as a client certificate.
fn self_signed(listen_urls: &[String]) -> Result<Identity, String> {
    let mut hosts: Vec<String> = Vec::new();
    for url in listen_urls {
        let (host, _, _) = crate::config::url_host_port(url)?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let mut params = rcgen::CertificateParams::new(hosts).map_err(|e| format!("auto TLS: {e}"))?;
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "etcd");
    params.extended_key_usages =
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages =
        vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment];
    let key = rcgen::KeyPair::generate().map_err(|e| format!("auto TLS: generate a key: {e}"))?;
    let cert = params.self_signed(&key).map_err(|e| format!("auto TLS: sign: {e}"))?;
    let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| format!("auto TLS: key: {e}"))?;
    Ok(Identity { chain: vec![cert.der().clone()], key, self_signed: true })
}
