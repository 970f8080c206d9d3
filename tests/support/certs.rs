//! Test certificates made with rcgen, shaped like etcd's integration fixtures
//! (`integration/fixtures` of the etcd sources): a CA; a server certificate for
//! `localhost` and `127.0.0.1` usable as a client certificate too (as etcd's
//! `server.crt`); a client certificate; a revoked client certificate and the CRL
//! (DER, as etcd's `revoke.crl`) that lists it; and a client certificate from
//! another CA. Made fresh each time, so no test depends on files a package installs.
//!
//! Also included by the library's unit tests (`src/tls/tls_test.rs`).

#![allow(dead_code, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};

/// A certificate and its key, PEM.
#[derive(Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

pub struct Fixtures {
    pub ca: String,
    pub server: Pem,
    pub client: Pem,
    pub revoked: Pem,
    /// The CRL (DER) listing `revoked`, signed by the CA.
    pub crl_der: Vec<u8>,
    /// A client certificate signed by another CA.
    pub stranger: Pem,
}

fn make_ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.distinguished_name.push(DnType::OrganizationName, "etcd");
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-sign CA").pem();
    (params, key, cert)
}

fn leaf(issuer: &Issuer<'_, &KeyPair>, name: &str, sans: &[&str], serial: u8, server: bool) -> Pem {
    let key = KeyPair::generate().expect("leaf key");
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.serial_number = Some(SerialNumber::from_slice(&[0x4a, serial]));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = if server {
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    let cert = params.signed_by(&key, issuer).expect("sign leaf").pem();
    Pem { cert, key: key.serialize_pem() }
}

impl Fixtures {
    pub fn generate() -> Fixtures {
        let (ca_params, ca_key, ca) = make_ca("ca");
        let issuer = Issuer::new(ca_params, &ca_key);
        let server = leaf(&issuer, "example.com", &["localhost", "127.0.0.1"], 1, true);
        let client = leaf(&issuer, "client", &[], 2, false);
        let revoked = leaf(&issuer, "revoked", &[], 3, false);
        let crl = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2021, 2, 28),
            next_update: rcgen::date_time_ymd(2021, 3, 7),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from_slice(&[0x4a, 3]),
                revocation_time: rcgen::date_time_ymd(2021, 2, 28),
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .expect("sign CRL");
        let (other_params, other_key, _) = make_ca("other-ca");
        let stranger = leaf(&Issuer::new(other_params, &other_key), "stranger", &[], 4, false);
        Fixtures { ca, server, client, revoked, crl_der: crl.der().to_vec(), stranger }
    }

    /// Write every file into `dir` with etcd's fixture names (`ca.crt`,
    /// `server.crt`, `server.key.insecure`, `revoke.crl`, ...); returns `dir`.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("create fixtures dir");
        let files: [(&str, &[u8]); 10] = [
            ("ca.crt", self.ca.as_bytes()),
            ("server.crt", self.server.cert.as_bytes()),
            ("server.key.insecure", self.server.key.as_bytes()),
            ("client.crt", self.client.cert.as_bytes()),
            ("client.key.insecure", self.client.key.as_bytes()),
            ("server-revoked.crt", self.revoked.cert.as_bytes()),
            ("server-revoked.key.insecure", self.revoked.key.as_bytes()),
            ("revoke.crl", &self.crl_der),
            ("stranger.crt", self.stranger.cert.as_bytes()),
            ("stranger.key.insecure", self.stranger.key.as_bytes()),
        ];
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).expect("write fixture");
        }
        dir.to_path_buf()
    }
}
