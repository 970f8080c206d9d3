//! Member and cluster IDs, derived as etcd derives them, so that `etcdctl member
//! list` shows the same IDs etcd would for the same flags.
//!
//! member ID  = first 8 bytes (big endian) of SHA-1(sorted peer URLs joined with "" ++ token)
//! cluster ID = first 8 bytes (big endian) of SHA-1(sorted member IDs, 8 bytes BE each)
//!
//! Worked example (etcd's defaults): peer URL `http://localhost:2380`, token
//! `etcd-cluster` → member `8e9e05c52164694d`, cluster `cdf818194e3a8c32`.

use sha1::{Digest, Sha1};

fn first_u64(bytes: &[u8]) -> u64 {
    let digest = Sha1::digest(bytes);
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

pub fn member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut b = urls.concat().into_bytes();
    b.extend_from_slice(token.as_bytes());
    first_u64(&b)
}

pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let b: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    first_u64(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_default_ids() {
        let m = member_id(&["http://localhost:2380".to_string()], "etcd-cluster");
        assert_eq!(format!("{m:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[m])), "cdf818194e3a8c32");
    }

    #[test]
    fn url_order_does_not_matter() {
        let a = member_id(&["http://b:1".into(), "http://a:1".into()], "t");
        let b = member_id(&["http://a:1".into(), "http://b:1".into()], "t");
        assert_eq!(a, b);
        assert_ne!(a, member_id(&["http://a:1".into(), "http://b:1".into()], "u"));
    }
}
