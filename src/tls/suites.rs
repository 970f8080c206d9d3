//! `--cipher-suites`: Go's suite names (as etcd's `tlsutil.GetCipherSuite` knows
//! them) → the crypto provider every TLS configuration of this process is built on.
//!
//! Worked example: `--cipher-suites TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256`
//! gives a provider with ECDHE-RSA-AES128-GCM-SHA256 for TLS 1.2 and the three
//! TLS 1.3 suites (the TLS 1.3 name is accepted and changes nothing, as in Go).
//! `TLS_RSA_WITH_AES_128_CBC_SHA` is a suite Go knows and rustls does not offer: a
//! warning, and it is left out. `TLS_BOGUS` is an error, as in etcd.

use std::sync::Arc;

use rustls::crypto::ring::{cipher_suite as cs, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::SupportedCipherSuite;

/// Go's names of the TLS 1.2 suites rustls offers (with Go's short aliases).
const TLS12: &[(&str, &SupportedCipherSuite)] = &[
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", &cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", &cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", &cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", &cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", &cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", &cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", &cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", &cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
];

/// TLS 1.3 suites: Go accepts their names and ignores them (they are always on).
const TLS13_NAMES: &[&str] =
    &["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

/// Suites Go knows (secure and "insecure" lists) that rustls does not implement.
const GO_ONLY: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The ring provider restricted to `names` (all suites when empty). The TLS 1.3
/// suites are always kept.
pub fn provider(names: &[String]) -> Result<Arc<CryptoProvider>, String> {
    let mut provider = default_provider();
    if names.is_empty() {
        return Ok(Arc::new(provider));
    }
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    for name in names {
        if let Some((_, suite)) = TLS12.iter().find(|(n, _)| n == name) {
            if !chosen.iter().any(|c| c.suite() == suite.suite()) {
                chosen.push(**suite);
            }
        } else if GO_ONLY.contains(&name.as_str()) {
            tracing::warn!(cipher_suite = %name, "cipher suite not offered by this build (rustls); ignoring it");
        } else if !TLS13_NAMES.contains(&name.as_str()) {
            return Err(format!("unexpected TLS cipher suite {name:?}"));
        }
    }
    if chosen.is_empty() {
        tracing::warn!("no TLS 1.2 cipher suite left from --cipher-suites: only TLS 1.3 is served");
    }
    chosen.extend(provider.cipher_suites.iter().filter(|s| s.version() == &rustls::version::TLS13).copied());
    provider.cipher_suites = chosen;
    Ok(Arc::new(provider))
}

/// The protocol versions `provider` has suites for (TLS 1.2 only if some remain).
pub fn versions(provider: &CryptoProvider) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions = vec![&rustls::version::TLS13];
    if provider.cipher_suites.iter().any(|s| s.version() == &rustls::version::TLS12) {
        versions.push(&rustls::version::TLS12);
    }
    versions
}

#[cfg(test)]
#[path = "suites_test.rs"]
mod suites_test;
