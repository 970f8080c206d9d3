//! The subject common name of an X.509 certificate (DER), for `--client-cert-auth`:
//! a verified client certificate's CN is the user of requests sent without a token.
//!
//! Only the path to the subject is walked (RFC 5280):
//!
//! ```text
//! Certificate      SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! tbsCertificate   SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER,
//!                             signature SEQUENCE, issuer Name, validity SEQUENCE,
//!                             subject Name, ... }
//! Name             SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }
//! ```
//!
//! The CN is the value of type 2.5.4.3; with several, the last one (as Go's
//! `pkix.Name` keeps it, which etcd reads).

/// One DER element: (tag, contents, rest after it).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The subject CN of a DER certificate; `None` if it has none or does not parse.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = element(der)? else { return None };
    let (SEQUENCE, mut tbs, _) = element(cert)? else { return None };
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity: skipped; then the subject.
    for _ in 0..4 {
        tbs = element(tbs)?.2;
    }
    let (SEQUENCE, mut name, _) = element(tbs)? else { return None };
    let mut found = None;
    while !name.is_empty() {
        let (SET, mut rdn, rest) = element(name)? else { return None };
        name = rest;
        while !rdn.is_empty() {
            let (SEQUENCE, attr, rest) = element(rdn)? else { return None };
            rdn = rest;
            let (OID, oid, value) = element(attr)? else { return None };
            if oid == OID_COMMON_NAME {
                let (_, text, _) = element(value)?;
                found = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(cn: Option<&str>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "etcd");
        if let Some(cn) = cn {
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_the_subject_common_name() {
        assert_eq!(common_name(&cert_with(Some("example.com"))).as_deref(), Some("example.com"));
        assert_eq!(common_name(&cert_with(Some("root"))).as_deref(), Some("root"));
    }

    #[test]
    fn none_without_a_common_name() {
        assert_eq!(common_name(&cert_with(None)), None);
    }

    #[test]
    fn garbage_and_truncations_are_none_not_panics() {
        let der = cert_with(Some("example.com"));
        for cut in 0..der.len() {
            let _ = common_name(&der[..cut]);
        }
        assert_eq!(common_name(&[]), None);
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(common_name(b"not a certificate"), None);
    }
}
