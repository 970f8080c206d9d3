use super::*;

/// An EC P-256 key pair as PEM: (private PKCS#8, public SPKI, self-signed certificate).
fn es256_keys() -> (String, String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    (key.serialize_pem(), key.public_key_pem(), cert.pem())
}

const NOW_MS: i64 = 1_800_000_000_000;

#[test]
fn signs_and_verifies_username_and_revision_until_expiry() {
    let (private, public, _) = es256_keys();
    let keys = JwtKeys::new("ES256", public.as_bytes(), private.as_bytes(), 2_000).unwrap();
    let token = keys.sign("alice", 7, NOW_MS).unwrap();
    let info = keys.verify(&token, NOW_MS + 1_999).expect("valid within its ttl");
    assert_eq!((info.user.as_str(), info.revision), ("alice", 7));
    assert!(keys.verify(&token, NOW_MS + 2_000).is_none(), "expired at issue + ttl");
}

#[test]
fn a_certificate_serves_as_the_public_key() {
    let (private, _, cert) = es256_keys();
    let keys = JwtKeys::new("ES256", cert.as_bytes(), private.as_bytes(), 60_000).unwrap();
    assert!(keys.verify(&keys.sign("u", 1, NOW_MS).unwrap(), NOW_MS).is_some());
}

#[test]
fn tampered_foreign_and_garbage_tokens_do_not_verify() {
    let (private, public, _) = es256_keys();
    let keys = JwtKeys::new("ES256", public.as_bytes(), private.as_bytes(), 60_000).unwrap();
    let token = keys.sign("alice", 7, NOW_MS).unwrap();
    let (head, rest) = token.split_once('.').unwrap();
    let (claims, sig) = rest.split_once('.').unwrap();
    // Claims of another token of the same key (user root), under alice's signature.
    let root_token = keys.sign("root", 7, NOW_MS).unwrap();
    let forged_claims = root_token.split('.').nth(1).unwrap();
    assert_ne!(forged_claims, claims);
    for bad in [
        format!("{head}.{forged_claims}.{sig}"),
        format!("{head}.{claims}.{}", &sig[..sig.len() - 2]),
        "garbage".to_string(),
        String::new(),
        "a.b.c".to_string(),
    ] {
        assert!(keys.verify(&bad, NOW_MS).is_none(), "{bad:?} verified");
    }
    let (other_private, other_public, _) = es256_keys();
    let other = JwtKeys::new("ES256", other_public.as_bytes(), other_private.as_bytes(), 60_000).unwrap();
    assert!(keys.verify(&other.sign("alice", 7, NOW_MS).unwrap(), NOW_MS).is_none(), "another key's token");
    let hmac = JwtKeys::new("HS256", b"", b"secret", 60_000).unwrap();
    assert!(keys.verify(&hmac.sign("alice", 7, NOW_MS).unwrap(), NOW_MS).is_none(), "another algorithm");
}

#[test]
fn hmac_takes_its_secret_from_priv_key() {
    let keys = JwtKeys::new("HS256", b"", b"a shared secret", 60_000).unwrap();
    let info = keys.verify(&keys.sign("bob", 3, NOW_MS).unwrap(), NOW_MS).unwrap();
    assert_eq!((info.user.as_str(), info.revision), ("bob", 3));
    let other = JwtKeys::new("HS256", b"", b"another secret", 60_000).unwrap();
    assert!(other.verify(&keys.sign("bob", 3, NOW_MS).unwrap(), NOW_MS).is_none());
}

#[test]
fn verify_only_keys_verify_but_do_not_sign() {
    let (private, public, _) = es256_keys();
    let signer = JwtKeys::new("ES256", public.as_bytes(), private.as_bytes(), 60_000).unwrap();
    let verifier = JwtKeys::new("ES256", public.as_bytes(), b"", 60_000).unwrap();
    assert!(verifier.verify(&signer.sign("u", 1, NOW_MS).unwrap(), NOW_MS).is_some());
    let e = verifier.sign("u", 1, NOW_MS).unwrap_err();
    assert_eq!(e.message(), "auth: token signing attempted with verify-only key");
}

#[test]
fn bad_settings_are_refused_at_start() {
    let (private, public, _) = es256_keys();
    let (_, other_public, _) = es256_keys();
    let refused =
        |method: &str, public: &[u8], private: &[u8]| JwtKeys::new(method, public, private, 1).is_err();
    assert!(refused("XX256", public.as_bytes(), private.as_bytes()), "unknown method");
    assert!(refused("ES256", b"", private.as_bytes()), "no public key to verify with");
    assert!(refused("ES256", b"not pem", private.as_bytes()), "unreadable public key");
    assert!(refused("ES256", public.as_bytes(), b"not pem"), "unreadable private key");
    assert!(refused("ES256", other_public.as_bytes(), private.as_bytes()), "keys of different pairs");
    assert!(refused("HS256", b"", b""), "no HMAC secret");
    assert!(refused("RS256", public.as_bytes(), private.as_bytes()), "EC keys for an RSA method");
}
