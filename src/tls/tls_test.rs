//! TLS setup from flags and files, and the accept path on loopback: who gets in,
//! who is refused, and that a refusal is quick.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;

use super::*;
use crate::config::TlsFlags;
use crate::env::sim_disk::{FaultConfig, SimDisk};

#[path = "../../tests/support/certs.rs"]
mod certs;
use certs::{Fixtures, Pem};

fn disk_with(f: &Fixtures) -> SimDisk {
    let disk = SimDisk::new(1, FaultConfig::none());
    disk.create_dir_all(Path::new("/f")).unwrap();
    let files: [(&str, &[u8]); 6] = [
        ("/f/ca.crt", f.ca.as_bytes()),
        ("/f/server.crt", f.server.cert.as_bytes()),
        ("/f/server.key", f.server.key.as_bytes()),
        ("/f/revoke.crl", &f.crl_der),
        ("/f/garbage", b"not a certificate"),
        ("/f/stranger.crt", f.stranger.cert.as_bytes()),
    ];
    for (path, bytes) in files {
        disk.write_atomic(Path::new(path), bytes).unwrap();
    }
    disk
}

fn server_flags() -> TlsFlags {
    TlsFlags {
        cert_file: "/f/server.crt".into(),
        key_file: "/f/server.key".into(),
        trusted_ca_file: "/f/ca.crt".into(),
        client_cert_auth: true,
        crl_file: "/f/revoke.crl".into(),
        ..Default::default()
    }
}

fn server_config(disk: &SimDisk, flags: &TlsFlags) -> Result<ServerTls, String> {
    let provider = suites::provider(&[])?;
    let id = files::identity(disk, flags, "", &["https://127.0.0.1:2379".into()])?.expect("identity");
    server::config(disk, &provider, &id, flags, "").map(ServerTls::new)
}

fn urls(s: &[&str]) -> Vec<String> {
    s.iter().map(|u| u.to_string()).collect()
}

#[test]
fn http_and_https_on_one_port_share_a_sniffing_listener() {
    let f = Fixtures::generate();
    let disk = disk_with(&f);
    let tls = server_config(&disk, &server_flags()).unwrap();
    let plan = listeners(
        &urls(&["http://127.0.0.1:1", "https://localhost:1", "https://127.0.0.1:2", "http://127.0.0.1:3"]),
        Some(&tls),
        "",
    )
    .unwrap();
    let modes: Vec<(u16, &str)> = plan
        .iter()
        .map(|(a, m)| {
            let mode = match m {
                Accept::Plain => "plain",
                Accept::Tls(_) => "tls",
                Accept::Sniff(_) => "sniff",
            };
            (a.port(), mode)
        })
        .collect();
    assert_eq!(modes, vec![(1, "sniff"), (2, "tls"), (3, "plain")]);
    let err = listeners(&urls(&["https://127.0.0.1:1"]), None, "").unwrap_err();
    assert!(err.contains("--cert-file") && err.contains("https://127.0.0.1:1"), "{err}");
    let err = listeners(&urls(&["https://127.0.0.1:1"]), None, "peer-").unwrap_err();
    assert!(err.contains("--peer-cert-file"), "{err}");
}

#[test]
fn bad_files_and_flag_combinations_are_errors_naming_the_flag() {
    let f = Fixtures::generate();
    let disk = disk_with(&f);
    let only_cert = TlsFlags { key_file: String::new(), ..server_flags() };
    let err = files::identity(&disk, &only_cert, "peer-", &[]).err().unwrap();
    assert!(err.contains("--peer-key-file"), "{err}");
    let missing = TlsFlags { cert_file: "/f/nope.crt".into(), ..server_flags() };
    let err = server_config(&disk, &missing).unwrap_err();
    assert!(err.contains("--cert-file /f/nope.crt"), "{err}");
    let garbage_ca = TlsFlags { trusted_ca_file: "/f/garbage".into(), ..server_flags() };
    let err = server_config(&disk, &garbage_ca).unwrap_err();
    assert!(err.contains("--trusted-ca-file /f/garbage"), "{err}");
    let garbage_key = TlsFlags { key_file: "/f/garbage".into(), ..server_flags() };
    assert!(server_config(&disk, &garbage_key).unwrap_err().contains("--key-file"));
    let garbage_crl = TlsFlags { crl_file: "/f/garbage".into(), ..server_flags() };
    assert!(server_config(&disk, &garbage_crl).unwrap_err().contains("--client-crl-file"));
    let auth_without_ca =
        TlsFlags { trusted_ca_file: String::new(), crl_file: String::new(), ..server_flags() };
    assert!(server_config(&disk, &auth_without_ca).unwrap_err().contains("needs --trusted-ca-file"));
    // A key that does not belong to the certificate.
    disk.write_atomic(Path::new("/f/stranger.key"), f.stranger.key.as_bytes()).unwrap();
    let wrong_key = TlsFlags { key_file: "/f/stranger.key".into(), ..server_flags() };
    assert!(server_config(&disk, &wrong_key).is_err());
}

#[test]
fn auto_tls_makes_a_certificate_for_the_listen_hosts() {
    let disk = SimDisk::new(1, FaultConfig::none());
    let flags = TlsFlags { auto_tls: true, ..Default::default() };
    let id = files::identity(&disk, &flags, "", &urls(&["https://localhost:1", "https://127.0.0.1:2"]))
        .unwrap()
        .expect("auto TLS identity");
    assert!(id.self_signed);
    let provider = suites::provider(&[]).unwrap();
    server::config(&disk, &provider, &id, &flags, "").unwrap();
    let peer = client::peer_config(&disk, &provider, Some(&id), &flags).unwrap();
    assert!(peer.is_some(), "auto-TLS peers connect with TLS");
    assert!(files::identity(&disk, &TlsFlags::default(), "", &[]).unwrap().is_none());
}

/// A TLS client: trusts the fixtures' CA, presents `cert` if given.
fn client(f: &Fixtures, cert: Option<&Pem>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(f.ca.as_bytes()).unwrap()).unwrap();
    let provider = suites::provider(&[]).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        Some(p) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(p.cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(p.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

struct Server {
    addr: std::net::SocketAddr,
    conns: tokio_stream::wrappers::ReceiverStream<std::io::Result<Conn>>,
}

async fn listen(accept: Accept) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    Server { addr, conns: incoming(listener, accept, "test") }
}

impl Server {
    /// The next connection the server would serve, if one comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Conn> {
        match tokio::time::timeout(wait, self.conns.next()).await {
            Ok(Some(Ok(c))) => Some(c),
            _ => None,
        }
    }
}

/// TLS-connect to `server` as `connector`; Ok once a byte written by the server side
/// arrived (so the server accepted the handshake), Err otherwise.
async fn roundtrip(server: &mut Server, connector: &tokio_rustls::TlsConnector) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let connecting = connector.connect(name, tcp);
    let (client, conn) = tokio::join!(connecting, server.next(Duration::from_secs(2)));
    let mut client = client.map_err(|e| format!("client handshake: {e}"))?;
    let mut conn = conn.ok_or("server handed on no connection")?;
    assert!(matches!(conn, Conn::Tls(_)));
    conn.write_all(b"!").await.unwrap();
    conn.flush().await.unwrap();
    let mut byte = [0u8; 1];
    client.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// TLS-connect to `server` as `connector` and expect a refusal within a second:
/// the client's handshake fails, or (TLS 1.3: the server checks the client's
/// certificate after the client is done) its first read does; the server hands on
/// nothing.
async fn refused(server: &mut Server, connector: &tokio_rustls::TlsConnector, who: &str) {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let attempt = async {
        let mut client = connector.connect(name, tcp).await?;
        let mut byte = [0u8; 1];
        match client.read(&mut byte).await? {
            0 => Err(std::io::Error::other("closed")),
            _ => Ok(()),
        }
    };
    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
        Ok(Err(_)) => {}
        Ok(Ok(())) => panic!("{who}: served"),
        Err(_) => panic!("{who}: not refused within a second"),
    }
    assert!(server.next(Duration::from_millis(100)).await.is_none(), "{who}: handed to the server");
}

#[tokio::test]
async fn client_certificates_are_checked_against_the_ca_and_the_crl() {
    let f = Fixtures::generate();
    let disk = disk_with(&f);
    let mut server = listen(Accept::Tls(server_config(&disk, &server_flags()).unwrap())).await;
    roundtrip(&mut server, &client(&f, Some(&f.client))).await.expect("a client of the CA gets in");
    roundtrip(&mut server, &client(&f, Some(&f.server)))
        .await
        .expect("the server cert works as a client cert");
    for (who, cert) in [("revoked", Some(&f.revoked)), ("other CA", Some(&f.stranger)), ("no cert", None)] {
        refused(&mut server, &client(&f, cert), who).await;
    }
    roundtrip(&mut server, &client(&f, Some(&f.client)))
        .await
        .expect("the listener still serves after refusals");
    // Without the CRL the revoked certificate is a good one: the CRL refused it.
    let no_crl = TlsFlags { crl_file: String::new(), ..server_flags() };
    let mut server = listen(Accept::Tls(server_config(&disk, &no_crl).unwrap())).await;
    roundtrip(&mut server, &client(&f, Some(&f.revoked))).await.expect("not revoked without the CRL");
}

#[tokio::test]
async fn plaintext_on_a_tls_port_is_refused_quickly_and_silence_does_not_block_others() {
    let f = Fixtures::generate();
    let disk = disk_with(&f);
    let mut server = listen(Accept::Tls(server_config(&disk, &server_flags()).unwrap())).await;
    // A client that connects and says nothing: its handshake waits alone.
    let _silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match plain.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // a TLS alert
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a plaintext client is disconnected at once");
    assert!(server.next(Duration::from_millis(200)).await.is_none());
    roundtrip(&mut server, &client(&f, Some(&f.client))).await.expect("served while a client is silent");
}

#[tokio::test]
async fn a_shared_port_serves_plaintext_and_tls() {
    let f = Fixtures::generate();
    let disk = disk_with(&f);
    let mut server = listen(Accept::Sniff(server_config(&disk, &server_flags()).unwrap())).await;
    let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    let mut conn = server.next(Duration::from_secs(2)).await.expect("plaintext served");
    assert!(matches!(conn, Conn::Plain(_)));
    let mut preface = [0u8; 24];
    conn.read_exact(&mut preface).await.unwrap();
    assert_eq!(&preface[..3], b"PRI", "the sniffed byte is not consumed");
    roundtrip(&mut server, &client(&f, Some(&f.client))).await.expect("TLS served on the same port");
}

/// The reloader: a new certificate and key, and a new CA bundle for client
/// certificates, are in force for the next handshake once the files change; files
/// that do not build (a key of another certificate) are refused and the
/// configuration in force stays; unchanged files are not rebuilt; a side served
/// without TLS stays so.
#[tokio::test]
async fn certificates_and_ca_bundles_are_reloaded_when_their_files_change() {
    let (old, new) = (Fixtures::generate(), Fixtures::generate());
    let disk = disk_with(&old);
    let mut cfg = crate::config::parse(&[], &|_| None).unwrap();
    cfg.listen_client_urls = vec!["https://127.0.0.1:2379".into()];
    cfg.client_tls = TlsFlags { crl_file: String::new(), ..server_flags() };
    let setup = TlsSetup::load(&cfg, &disk).unwrap();
    assert!(setup.peer_server.is_none() && setup.peer_client.client.is_none(), "no peer TLS configured");
    let mut reloader = Reloader::new(&cfg, &setup).expect("files to watch");
    let mut server = listen(Accept::Tls(setup.client.clone().unwrap())).await;
    roundtrip(&mut server, &client(&old, Some(&old.client))).await.expect("the first CA's client");
    assert_eq!(reloader.check(&disk), Checked::Unchanged);

    // A key that is not the certificate's: refused, the old configuration stays.
    disk.write_atomic(Path::new("/f/server.key"), new.server.key.as_bytes()).unwrap();
    let Checked::Refused(why) = reloader.check(&disk) else { panic!("a mismatched key must be refused") };
    assert!(why.contains("--cert-file / --key-file"), "{why}");
    roundtrip(&mut server, &client(&old, Some(&old.client))).await.expect("still the old configuration");
    assert_eq!(reloader.check(&disk), Checked::Unchanged, "the same bad files are not retried");

    // The whole set replaced: server certificate and key, and the CA bundle.
    disk.write_atomic(Path::new("/f/server.crt"), new.server.cert.as_bytes()).unwrap();
    disk.write_atomic(Path::new("/f/ca.crt"), new.ca.as_bytes()).unwrap();
    assert_eq!(reloader.check(&disk), Checked::Reloaded);
    roundtrip(&mut server, &client(&new, Some(&new.client)))
        .await
        .expect("the new CA's client, new server cert");
    refused(&mut server, &client(&new, Some(&old.client)), "a client of the old CA").await;
    refused(&mut server, &client(&old, Some(&old.client)), "a client that trusts the old server cert").await;

    let plain = crate::config::parse(&[], &|_| None).unwrap();
    assert!(Reloader::new(&plain, &TlsSetup::load(&plain, &disk).unwrap()).is_none(), "nothing to watch");
}
