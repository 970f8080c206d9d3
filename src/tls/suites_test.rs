use super::*;

fn names(s: &[&str]) -> Vec<String> {
    s.iter().map(|n| n.to_string()).collect()
}

fn tls12_count(p: &CryptoProvider) -> usize {
    p.cipher_suites.iter().filter(|s| s.version() == &rustls::version::TLS12).count()
}

#[test]
fn empty_list_keeps_every_suite() {
    let p = provider(&[]).unwrap();
    assert_eq!(p.cipher_suites.len(), rustls::crypto::ring::ALL_CIPHER_SUITES.len());
    assert_eq!(versions(&p).len(), 2);
}

#[test]
fn go_names_select_tls12_suites_in_order_and_keep_tls13() {
    let p = provider(&names(&[
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_GCM_SHA256",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    ]))
    .unwrap();
    assert_eq!(tls12_count(&p), 2, "the alias and the full name are one suite; CBC is skipped");
    assert_eq!(p.cipher_suites[0].suite(), rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256);
    assert_eq!(p.cipher_suites[1].suite(), rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    assert_eq!(p.cipher_suites.len(), 2 + 3, "TLS 1.3 suites stay");
}

#[test]
fn only_unsupported_suites_leave_tls13_alone() {
    let p = provider(&names(&["TLS_RSA_WITH_AES_128_GCM_SHA256"])).unwrap();
    assert_eq!(tls12_count(&p), 0);
    assert_eq!(versions(&p), vec![&rustls::version::TLS13]);
}

#[test]
fn unknown_names_are_errors_as_in_etcd() {
    let err = provider(&names(&["TLS_BOGUS"])).unwrap_err();
    assert_eq!(err, "unexpected TLS cipher suite \"TLS_BOGUS\"");
}
