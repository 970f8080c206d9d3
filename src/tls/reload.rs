//! Certificates, keys, CA bundles and CRLs reloaded from disk while the member runs,
//! without a restart (MetaStore's own: etcd 3.4 re-reads its certificate and key at
//! each handshake, but never its CA bundle or CRL).
//!
//! Every [`RELOAD_CHECK`] the [`Reloader`] reads the files the TLS flags name and
//! hashes them. When the hash differs from the one last built (or tried), it builds
//! every configuration anew from them and puts each into the slot the listeners and
//! the peer dialer share: handshakes from then on use it, connections already open
//! keep theirs. Files that do not build (a key that no longer matches its
//! certificate, a file half written, a CA bundle with no certificate) are refused
//! with a warning naming the flag; the configuration in force stays until the files
//! change again. `--auto-tls` certificates are made once, at start, and kept.
//!
//! ```text
//! t0  start: hash H0, configurations built from the files
//! t1  operator replaces server.crt/server.key     hash H1 != H0 -> rebuilt, swapped in, "reloaded"
//! t2  ca.crt half written                          hash H2 -> build fails -> warning, H1's config stays
//! t3  ca.crt complete                              hash H3 -> rebuilt, swapped in
//! ```

use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};
use sha2::{Digest, Sha256};

use super::files::{self, Identity};
use super::{client, server, suites, PeerTls, ServerTls, TlsSetup};
use crate::config::{Config, TlsFlags};
use crate::env::Disk;

/// How often the files are looked at.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The configurations one set of files makes.
pub(super) struct Built {
    pub client: Option<Arc<ServerConfig>>,
    pub peer_server: Option<Arc<ServerConfig>>,
    pub peer_client: Option<Arc<ClientConfig>>,
    /// The `--auto-tls` / `--peer-auto-tls` certificates (client side, peer side), kept
    /// across rebuilds.
    auto: (Option<Identity>, Option<Identity>),
}

impl Built {
    /// Build from the files `cfg` names; `kept` are the auto-TLS certificates made
    /// before (made now if none).
    pub fn new(
        cfg: &Config,
        disk: &dyn Disk,
        kept: (Option<&Identity>, Option<&Identity>),
    ) -> Result<Built, String> {
        let provider = suites::provider(&cfg.cipher_suites)?;
        let client_id = identity(disk, &cfg.client_tls, "", &cfg.listen_client_urls, kept.0)?;
        let peer_id = identity(disk, &cfg.peer_tls, "peer-", &cfg.listen_peer_urls, kept.1)?;
        let client = match &client_id {
            Some(id) => Some(server::config(disk, &provider, id, &cfg.client_tls, "")?),
            None => None,
        };
        let peer_server = match &peer_id {
            Some(id) => Some(server::config(disk, &provider, id, &cfg.peer_tls, "peer-")?),
            None => None,
        };
        let peer_client = client::peer_config(disk, &provider, peer_id.as_ref(), &cfg.peer_tls)?;
        let auto_of = |id: Option<Identity>| id.filter(|i| i.self_signed);
        Ok(Built { client, peer_server, peer_client, auto: (auto_of(client_id), auto_of(peer_id)) })
    }
}

/// This side's certificate: the files', or the auto-TLS one made before.
fn identity(
    disk: &dyn Disk,
    flags: &TlsFlags,
    side: &str,
    listen_urls: &[String],
    kept: Option<&Identity>,
) -> Result<Option<Identity>, String> {
    match kept {
        Some(id) if flags.cert_file.is_empty() && flags.key_file.is_empty() => Ok(Some(id.clone())),
        _ => files::identity(disk, flags, side, listen_urls),
    }
}

/// The files the TLS flags name, in a fixed order.
fn sources(cfg: &Config) -> Vec<&str> {
    [&cfg.client_tls, &cfg.peer_tls]
        .into_iter()
        .flat_map(|f| [&f.cert_file, &f.key_file, &f.trusted_ca_file, &f.crl_file])
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect()
}

/// A hash of the files' names and contents (a file that cannot be read counts by
/// its error).
fn fingerprint(disk: &dyn Disk, paths: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for path in paths {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        match disk.read(std::path::Path::new(path)) {
            Ok(bytes) => {
                h.update([1]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(e) => {
                h.update([0]);
                h.update(format!("{:?}", e.kind()).as_bytes());
            }
        }
    }
    h.finalize().into()
}

/// What [`TlsSetup::load`] read, for the reloader to start from.
pub(super) struct Loaded {
    fingerprint: [u8; 32],
    auto: (Option<Identity>, Option<Identity>),
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loaded")
    }
}

/// [`TlsSetup::load`]'s work: the hash first (a change while building is seen at the
/// next check), then the configurations.
pub(super) fn load(cfg: &Config, disk: &dyn Disk) -> Result<TlsSetup, String> {
    let fingerprint = fingerprint(disk, &sources(cfg));
    let built = Built::new(cfg, disk, (None, None))?;
    Ok(TlsSetup {
        client: built.client.map(ServerTls::new),
        peer_server: built.peer_server.map(ServerTls::new),
        peer_client: PeerTls { client: built.peer_client.map(super::Slot::new) },
        loaded: Some(Arc::new(Loaded { fingerprint, auto: built.auto })),
    })
}

/// Watches the files a [`TlsSetup`] was loaded from and swaps rebuilt configurations
/// into its slots.
pub struct Reloader {
    cfg: Config,
    setup: TlsSetup,
    sources: Vec<String>,
    /// The hash of the files last built or tried.
    seen: [u8; 32],
    auto: (Option<Identity>, Option<Identity>),
}

/// What one check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The files are as they were.
    Unchanged,
    /// They changed and the new configuration is in force.
    Reloaded,
    /// They changed and do not build; the one in force stays.
    Refused(String),
}

impl Reloader {
    /// A reloader for `setup` (loaded from `cfg`); `None` when no TLS file is named
    /// (nothing on disk to watch).
    pub fn new(cfg: &Config, setup: &TlsSetup) -> Option<Reloader> {
        let loaded = setup.loaded.as_ref()?;
        let sources: Vec<String> = sources(cfg).into_iter().map(String::from).collect();
        if sources.is_empty() {
            return None;
        }
        Some(Reloader {
            cfg: cfg.clone(),
            setup: setup.clone(),
            sources,
            seen: loaded.fingerprint,
            auto: loaded.auto.clone(),
        })
    }

    /// Look at the files once; rebuild and swap in if they changed.
    pub fn check(&mut self, disk: &dyn Disk) -> Checked {
        let paths: Vec<&str> = self.sources.iter().map(String::as_str).collect();
        let now = fingerprint(disk, &paths);
        if now == self.seen {
            return Checked::Unchanged;
        }
        self.seen = now;
        let built = match Built::new(&self.cfg, disk, (self.auto.0.as_ref(), self.auto.1.as_ref())) {
            Ok(b) => b,
            Err(e) => return Checked::Refused(e),
        };
        // A side served without TLS at start stays so (its listeners are plaintext).
        if let (Some(slot), Some(c)) = (&self.setup.client, built.client) {
            slot.0.set(c);
        }
        if let (Some(slot), Some(c)) = (&self.setup.peer_server, built.peer_server) {
            slot.0.set(c);
        }
        if let (Some(slot), Some(c)) = (&self.setup.peer_client.client, built.peer_client) {
            slot.set(c);
        }
        Checked::Reloaded
    }

    /// Check every [`RELOAD_CHECK`] until `stop`, logging what changed.
    pub async fn run(mut self, disk: Arc<dyn Disk>, stop: crate::shutdown::Shutdown) {
        loop {
            tokio::select! {
                () = stop.wait() => return,
                () = tokio::time::sleep(RELOAD_CHECK) => {}
            }
            match self.check(disk.as_ref()) {
                Checked::Unchanged => {}
                Checked::Reloaded => {
                    tracing::info!(files = %self.sources.join(","), "reloaded TLS certificates, keys, CAs and CRLs")
                }
                Checked::Refused(e) => tracing::warn!(
                    error = %e,
                    "TLS files changed but cannot be used; the configuration in force stays"
                ),
            }
        }
    }
}
