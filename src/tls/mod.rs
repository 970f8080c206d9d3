//! `tls`: transport security of the client and peer URLs, configured by etcd's flags
//! and with etcd's (Go's `crypto/tls`) semantics, on rustls with the ring provider.
//!
//! What each flag does (the peer side is the same with `--peer-` in front):
//!
//! | flag | effect |
//! |---|---|
//! | `--cert-file`, `--key-file` | the certificate (chain) and key served on `https://` URLs (PEM; the key PKCS#1, SEC1 or PKCS#8) |
//! | `--auto-tls` | no files given: a self-signed certificate for the listen URLs' hosts, made at start |
//! | `--trusted-ca-file` | client certificates are *required* and verified against it (as etcd: the CA file alone turns this on) |
//! | `--client-cert-auth` | the same, spelled out; needs the CA file |
//! | `--client-crl-file` | a CRL (PEM or DER) signed by that CA: certificates it lists are refused |
//! | `--cipher-suites` | Go's names of the TLS 1.2 suites allowed; TLS 1.3 stays on with its own suites (Go does not let them be configured either) |
//!
//! A peer connects to `https://` peer URLs presenting its own certificate (so a
//! peer side with `--peer-trusted-ca-file` accepts it) and verifies the other side
//! against `--peer-trusted-ca-file`; with `--peer-auto-tls` it skips verification,
//! as etcd does (a self-signed certificate proves nothing).
//!
//! `http://h:p` and `https://h:p` both in `--listen-client-urls` share the port: the
//! first byte of each connection decides (0x16 opens a TLS handshake), as etcd's
//! cmux does. A failed or slow handshake (unknown CA, revoked or missing client
//! certificate, a plaintext client on a TLS-only port, silence) closes that
//! connection with a warning naming the remote address; it never stalls the
//! listener: every handshake runs in its own task with [`HANDSHAKE_TIMEOUT`].
//!
//! The files are watched while the member runs ([`Reloader`], `reload.rs`): a changed
//! certificate, key, CA bundle or CRL is in force for the next handshake, without a
//! restart (etcd 3.4 re-reads only its certificate and key). Open connections keep
//! the session they have.
//!
//! Differences from etcd: the `--auto-tls` certificate is kept in memory and made
//! anew at every start (etcd writes it under `<data-dir>/fixtures/` and reuses it;
//! nothing depends on that: auto-TLS clients and peers skip verification); CBC, RC4,
//! 3DES and static-RSA suites named in `--cipher-suites` are not offered by rustls
//! and are skipped with a warning; a peer without `--peer-trusted-ca-file` (and
//! without auto-TLS) verifies against no CA rather than the system's roots.
//!
//! The simulation build has none of this: madsim's network carries no bytes, and
//! any TLS flag or `https://` URL is refused at start. The TLS handshakes use the
//! OS's randomness through ring, which is why this lives outside `env/` only in the
//! real build.

use std::net::SocketAddr;

use crate::config::Config;
use crate::env::Disk;

#[cfg(not(madsim))]
mod accept;
#[cfg(not(madsim))]
mod cert_cn;
#[cfg(not(madsim))]
mod client;
#[cfg(not(madsim))]
mod files;
#[cfg(not(madsim))]
mod reload;
#[cfg(not(madsim))]
mod server;
#[cfg(not(madsim))]
mod suites;

#[cfg(not(madsim))]
pub use accept::{incoming, Conn, HANDSHAKE_TIMEOUT};
#[cfg(not(madsim))]
pub use reload::{Checked, Reloader, RELOAD_CHECK};

/// A TLS server configuration that the reloader may replace while the member runs
/// (an uninhabited type in the simulation build). Every clone shares one slot: each
/// new handshake takes the configuration in it at that moment.
#[cfg(not(madsim))]
#[derive(Clone)]
pub struct ServerTls(Slot<rustls::ServerConfig>);
#[cfg(madsim)]
#[derive(Clone, Debug)]
pub enum ServerTls {}

/// A shared, replaceable `Arc<T>`.
#[cfg(not(madsim))]
struct Slot<T>(std::sync::Arc<std::sync::RwLock<std::sync::Arc<T>>>);

#[cfg(not(madsim))]
impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}

#[cfg(not(madsim))]
impl<T> Slot<T> {
    fn new(value: std::sync::Arc<T>) -> Self {
        Slot(std::sync::Arc::new(std::sync::RwLock::new(value)))
    }

    fn get(&self) -> std::sync::Arc<T> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set(&self, value: std::sync::Arc<T>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }
}

#[cfg(not(madsim))]
impl ServerTls {
    pub fn new(config: std::sync::Arc<rustls::ServerConfig>) -> ServerTls {
        ServerTls(Slot::new(config))
    }

    /// The configuration a handshake starting now uses.
    pub fn current(&self) -> std::sync::Arc<rustls::ServerConfig> {
        self.0.get()
    }
}

#[cfg(not(madsim))]
impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// How a listener treats a new connection.
#[derive(Clone, Debug)]
pub enum Accept {
    /// Plaintext only (`http://` URLs).
    Plain,
    /// TLS only (`https://` URLs).
    Tls(ServerTls),
    /// `http://` and `https://` on one port: the first byte decides.
    Sniff(ServerTls),
}

/// What a peer needs to connect to other peers' `https://` URLs; empty (plaintext
/// only) by default and always in the simulation build.
#[derive(Clone, Default)]
pub struct PeerTls {
    #[cfg(not(madsim))]
    client: Option<Slot<rustls::ClientConfig>>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(not(madsim))]
        let configured = self.client.is_some();
        #[cfg(madsim)]
        let configured = false;
        f.debug_struct("PeerTls").field("configured", &configured).finish()
    }
}

/// Everything the TLS flags amount to, loaded once at start.
#[derive(Clone, Debug, Default)]
pub struct TlsSetup {
    /// Served on `https://` client URLs.
    pub client: Option<ServerTls>,
    /// Served on `https://` peer URLs.
    pub peer_server: Option<ServerTls>,
    /// Used to connect to `https://` peer URLs.
    pub peer_client: PeerTls,
    /// What the files were at load, for [`Reloader`].
    #[cfg(not(madsim))]
    loaded: Option<std::sync::Arc<reload::Loaded>>,
}

impl TlsSetup {
    /// Read the certificate, key, CA and CRL files the flags name (through `disk`),
    /// make auto-TLS certificates, and build the configurations. Any unreadable or
    /// malformed file is an error naming its flag and path.
    #[cfg(not(madsim))]
    pub fn load(cfg: &Config, disk: &dyn Disk) -> Result<TlsSetup, String> {
        reload::load(cfg, disk)
    }

    /// The simulation build: no TLS at all.
    #[cfg(madsim)]
    pub fn load(cfg: &Config, _disk: &dyn Disk) -> Result<TlsSetup, String> {
        if !cfg.client_tls.is_empty() || !cfg.peer_tls.is_empty() {
            return Err("TLS is not available in the simulation build".into());
        }
        Ok(TlsSetup::default())
    }
}

impl PeerTls {
    /// Connect a gRPC channel to the peer URL `url` (TLS for `https://`).
    pub async fn connect(&self, url: &str) -> Result<tonic::transport::Channel, String> {
        #[cfg(not(madsim))]
        if url.starts_with("https://") {
            let Some(config) = &self.client else {
                return Err("peer URL is https but no peer TLS is configured (--peer-trusted-ca-file, \
                     --peer-cert-file/--peer-key-file or --peer-auto-tls)"
                    .into());
            };
            return client::connect(config.get(), url).await;
        }
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).map_err(|e| e.to_string())?;
        endpoint.connect().await.map_err(|e| error_chain(&e))
    }
}

/// An error with its sources, `a: b: c` (tonic's transport error alone says only
/// "transport error").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The listeners for `urls` (`--listen-client-urls` or `--listen-peer-urls`): one per
/// address, in first-mention order; an address named both `http://` and `https://`
/// serves both. `side` is `""` (client) or `"peer-"`, for messages.
pub fn listeners(
    urls: &[String],
    tls: Option<&ServerTls>,
    side: &str,
) -> Result<Vec<(SocketAddr, Accept)>, String> {
    let mut plan: Vec<(SocketAddr, bool, bool)> = Vec::new();
    for url in urls {
        let addr = crate::config::listen_addr(url)?;
        let secure = crate::config::url_host_port(url)?.2;
        if secure && tls.is_none() {
            return Err(format!(
                "TLS key/cert (--{side}cert-file, --{side}key-file) must be provided for {} url {url} with \
                 HTTPS scheme",
                if side.is_empty() { "client" } else { "peer" }
            ));
        }
        if !secure && tls.is_some() {
            tracing::warn!(url = %url, "scheme is HTTP while key and cert files are present; ignoring key and cert files");
        }
        match plan.iter_mut().find(|(a, _, _)| *a == addr) {
            Some((_, plain, tls)) => {
                *plain |= !secure;
                *tls |= secure;
            }
            None => plan.push((addr, !secure, secure)),
        }
    }
    let accept = |plain: bool, secure: bool| match (plain, secure, tls) {
        (_, false, _) | (_, true, None) => Accept::Plain,
        (false, true, Some(t)) => Accept::Tls(t.clone()),
        (true, true, Some(t)) => Accept::Sniff(t.clone()),
    };
    Ok(plan.into_iter().map(|(addr, plain, secure)| (addr, accept(plain, secure))).collect())
}

#[cfg(all(test, not(madsim)))]
#[path = "tls_test.rs"]
mod tls_test;

/// What a connection knows about its client (the transport puts it in every
/// request's extensions, the services read it): the common name of a verified
/// client certificate.
#[derive(Clone, Debug, Default)]
pub struct ClientCert {
    pub common_name: Option<String>,
    pub remote_addr: Option<std::net::SocketAddr>,
}
