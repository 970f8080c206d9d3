//! The etcd backend image read back with the bbolt test reader and decoded as etcd
//! would (prost for the protobuf values).

use prost::Message;

use super::*;
use crate::apply::{ApplyLimits, Request};
use crate::auth::{AuthRequest, PermKind, Permission};
use crate::mvcc::{DeleteRangeRequest, PutRequest, RangeRequest};
use crate::proto::mvccpb;
use crate::storage::bbolt::bbolt_test::read_buckets;

type Buckets = Vec<(Vec<u8>, Pairs)>;

const BUCKET_NAMES: [&str; 10] = [
    "alarm",
    "auth",
    "authRoles",
    "authUsers",
    "cluster",
    "key",
    "lease",
    "members",
    "members_removed",
    "meta",
];

fn file_of(state: &KvState, consistent_index: u64) -> Vec<u8> {
    let db = EtcdDb::of(state, consistent_index, "3.5.0");
    let plan = db.plan().unwrap();
    let mut file = Vec::new();
    db.write(&plan, &mut |bytes| file.extend_from_slice(bytes)).unwrap();
    assert_eq!(file.len() as u64, plan.size_bytes());
    file
}

fn buckets_of(state: &KvState, consistent_index: u64) -> Buckets {
    let buckets = read_buckets(&file_of(state, consistent_index));
    let names: Vec<String> = buckets.iter().map(|(n, _)| String::from_utf8_lossy(n).into_owned()).collect();
    assert_eq!(names, BUCKET_NAMES);
    buckets
}

fn bucket<'a>(buckets: &'a Buckets, name: &str) -> &'a Pairs {
    &buckets.iter().find(|(n, _)| n == name.as_bytes()).expect("bucket").1
}

fn pair(key: &[u8], value: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (key.to_vec(), value.to_vec())
}

fn put(state: &mut KvState, key: &str, value: &str, lease: i64) {
    let req = PutRequest { key: key.into(), value: value.into(), lease, ..Default::default() };
    state.apply(&Request::Put(req)).result.unwrap();
}

fn delete(state: &mut KvState, key: &str) {
    let req = DeleteRangeRequest { key: key.into(), ..Default::default() };
    state.apply(&Request::DeleteRange(req)).result.unwrap();
}

fn auth(state: &mut KvState, req: AuthRequest) {
    state.apply(&Request::Auth(req)).result.unwrap();
}

/// etcdctl snapshot status: the main revision of the last `key` key, and all pairs.
fn status(buckets: &Buckets) -> (i64, usize) {
    let last =
        bucket(buckets, "key").last().map_or(0, |(k, _)| i64::from_be_bytes(k[..8].try_into().unwrap()));
    (last, buckets.iter().map(|(_, p)| p.len()).sum())
}

/// The module docs' worked example, byte for byte.
#[test]
fn worked_example() {
    let mut state = KvState::new(ApplyLimits::default());
    put(&mut state, "foo", "bar", 0);
    delete(&mut state, "foo");
    let buckets = buckets_of(&state, 9);
    let rev = |main: u8, tomb: bool| {
        let mut k = vec![0, 0, 0, 0, 0, 0, 0, main, b'_', 0, 0, 0, 0, 0, 0, 0, 0];
        if tomb {
            k.push(b't');
        }
        k
    };
    let kv: &[u8] = &[0x0a, 3, b'f', b'o', b'o', 0x10, 2, 0x18, 2, 0x20, 1, 0x2a, 3, b'b', b'a', b'r'];
    assert_eq!(
        bucket(&buckets, "key"),
        &vec![(rev(2, false), kv.to_vec()), (rev(3, true), b"\x0a\x03foo".to_vec())]
    );
    assert_eq!(
        bucket(&buckets, "auth"),
        &vec![pair(b"authEnabled", &[0]), pair(b"authRevision", &[0, 0, 0, 0, 0, 0, 0, 1])]
    );
    assert_eq!(bucket(&buckets, "cluster"), &vec![pair(b"clusterVersion", b"3.5.0")]);
    assert_eq!(bucket(&buckets, "meta"), &vec![pair(b"consistent_index", &[0, 0, 0, 0, 0, 0, 0, 9])]);
    for empty in ["alarm", "authRoles", "authUsers", "lease", "members", "members_removed"] {
        assert!(bucket(&buckets, empty).is_empty(), "{empty}");
    }
    assert_eq!(status(&buckets), (3, 6));
}

/// etcd's TestCtlV3AuthSnapshot: three puts on a fresh store and auth set up give
/// revision 4 (auth changes do not move the KV revision) and at least 3 keys.
#[test]
fn status_after_three_puts_and_auth_is_revision_4() {
    let mut state = KvState::new(ApplyLimits::default());
    for (k, v) in [("key1", "val1"), ("key2", "val2"), ("key3", "val3")] {
        put(&mut state, k, v, 0);
    }
    auth(&mut state, AuthRequest::UserAdd { name: "root".into(), password_hash: Some("$2a$04$x".into()) });
    auth(&mut state, AuthRequest::UserGrantRole { user: "root".into(), role: "root".into() });
    auth(&mut state, AuthRequest::Enable);
    let (revision, total) = status(&buckets_of(&state, 20));
    assert_eq!(revision, 4);
    assert!(total >= 3, "{total}");
}

/// Every stored version, as etcd's restore reads them back: the same KeyValues the
/// store serves, tombstones included, across many pages.
#[test]
fn key_bucket_holds_every_stored_version() {
    let mut state = KvState::new(ApplyLimits::default());
    state.apply(&Request::LeaseGrant { id: 0x77, ttl_s: 60 }).result.unwrap();
    for i in 0..3000 {
        let value = "v".repeat(i % 300);
        put(&mut state, &format!("k{:05}", i % 1000), &value, if i % 7 == 0 { 0x77 } else { 0 });
        if i % 11 == 0 {
            delete(&mut state, &format!("k{:05}", i % 1000));
        }
    }
    let buckets = buckets_of(&state, 1);
    let stored = bucket(&buckets, "key");
    let entries = state.kv.stored_entries();
    assert_eq!(stored.len(), entries.len());
    for ((k, v), entry) in stored.iter().zip(&entries) {
        let kv = mvccpb::KeyValue::decode(&v[..]).unwrap();
        assert_eq!(kv.key, entry.key);
        assert_eq!(&k[..17], &entry.revision().to_etcd_bytes());
        assert_eq!(k.len() == 18, entry.stored.tombstone);
        if !entry.stored.tombstone {
            assert_eq!(kv.mod_revision, entry.revision().main);
            assert_eq!(kv.value, entry.stored.version.value);
            assert_eq!(kv.lease, entry.stored.version.lease);
        }
    }
    // The latest version of each live key is what a range reads.
    let live =
        state.kv.range(&RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() }).unwrap();
    for want in live.kvs {
        let got = stored
            .iter()
            .rev()
            .map(|(_, v)| mvccpb::KeyValue::decode(&v[..]).unwrap())
            .find(|kv| kv.key == want.key)
            .unwrap();
        assert_eq!(
            (got.create_revision, got.mod_revision, got.version, got.value, got.lease),
            (want.create_revision, want.mod_revision, want.version, want.value, want.lease)
        );
    }
    assert_eq!(status(&buckets).0, state.kv.current_revision());
}

#[test]
fn compaction_is_recorded_and_compacted_versions_are_gone() {
    let mut state = KvState::new(ApplyLimits::default());
    for v in ["1", "2", "3"] {
        put(&mut state, "a", v, 0);
    }
    put(&mut state, "b", "x", 0);
    state.apply(&Request::Compact { revision: 3 }).result.unwrap();
    let buckets = buckets_of(&state, 5);
    let rev3 = Revision::new(3, 0).to_etcd_bytes().to_vec();
    assert_eq!(
        bucket(&buckets, "meta"),
        &vec![
            pair(b"consistent_index", &5u64.to_be_bytes()),
            pair(b"finishedCompactRev", &rev3),
            pair(b"scheduledCompactRev", &rev3),
        ]
    );
    let mains: Vec<u8> = bucket(&buckets, "key").iter().map(|(k, _)| k[7]).collect();
    assert_eq!(mains, [3, 4, 5], "a@3, a@4, b@5 (a@2 compacted)");
}

#[test]
fn leases_are_leasepb_by_big_endian_id() {
    let mut state = KvState::new(ApplyLimits::default());
    for (id, ttl_s) in [(0x0102, 30), (-5, 10), (7, 600)] {
        state.apply(&Request::LeaseGrant { id, ttl_s }).result.unwrap();
    }
    state.apply(&Request::LeaseCheckpoint { checkpoints: vec![(7, 450)] }).result.unwrap();
    let buckets = buckets_of(&state, 1);
    let leases: Vec<(i64, LeasePb)> = bucket(&buckets, "lease")
        .iter()
        .map(|(k, v)| (i64::from_be_bytes(k[..].try_into().unwrap()), LeasePb::decode(&v[..]).unwrap()))
        .collect();
    let pb = |id, ttl, remaining_ttl| LeasePb { id, ttl, remaining_ttl };
    assert_eq!(leases, [(7, pb(7, 600, 450)), (0x0102, pb(0x0102, 30, 0)), (-5, pb(-5, 10, 0))]);
    // leasepb.Lease{ID: 7, TTL: 600, RemainingTTL: 450} as Go's gogoproto writes it.
    assert_eq!(bucket(&buckets, "lease")[0].1, [0x08, 7, 0x10, 0xd8, 0x04, 0x18, 0xc2, 0x03]);
}

#[test]
fn users_and_roles_are_authpb() {
    let mut state = KvState::new(ApplyLimits::default());
    let hash = "$2a$10$KIlv8iSek5iDjR42jn5AyeDuA98SIGC3t.23720tr8Ldr8GpxoP6O";
    auth(&mut state, AuthRequest::UserAdd { name: "root".into(), password_hash: Some(hash.into()) });
    auth(&mut state, AuthRequest::UserGrantRole { user: "root".into(), role: "root".into() });
    auth(&mut state, AuthRequest::UserAdd { name: "cert".into(), password_hash: None });
    auth(&mut state, AuthRequest::RoleAdd { name: "app".into() });
    let perm = |kind, key: &str, end: &str| Permission { kind, key: key.into(), range_end: end.into() };
    for p in [perm(PermKind::ReadWrite, "/app/", "/app0"), perm(PermKind::Read, "/a", "")] {
        auth(&mut state, AuthRequest::RoleGrantPermission { role: "app".into(), perm: p });
    }
    auth(&mut state, AuthRequest::UserGrantRole { user: "cert".into(), role: "app".into() });
    auth(&mut state, AuthRequest::Enable);
    let buckets = buckets_of(&state, 1);
    let revision = state.auth.revision();
    assert_eq!(
        bucket(&buckets, "auth"),
        &vec![pair(b"authEnabled", &[1]), pair(b"authRevision", &revision.to_be_bytes())]
    );
    let users = bucket(&buckets, "authUsers");
    assert_eq!(users.iter().map(|(k, _)| &k[..]).collect::<Vec<_>>(), [&b"cert"[..], b"root"]);
    let root = authpb::User::decode(&users[1].1[..]).unwrap();
    assert_eq!(
        (root.name, root.password, root.roles),
        (b"root".to_vec(), hash.as_bytes().to_vec(), vec!["root".into()])
    );
    assert_eq!(root.options, Some(authpb::UserAddOptions { no_password: false }));
    // etcd 3.4's own bytes for this root user end in roles "root", then empty options.
    assert!(users[1].1.ends_with(b"\x1a\x04root\x22\x00"));
    let cert = authpb::User::decode(&users[0].1[..]).unwrap();
    assert_eq!((cert.password.len(), cert.options), (0, Some(authpb::UserAddOptions { no_password: true })));
    let roles = bucket(&buckets, "authRoles");
    assert_eq!(roles.len(), 1);
    let app = authpb::Role::decode(&roles[0].1[..]).unwrap();
    assert_eq!(app.name, b"app");
    let perms: Vec<(i32, Vec<u8>, Vec<u8>)> =
        app.key_permission.into_iter().map(|p| (p.perm_type, p.key, p.range_end)).collect();
    assert_eq!(perms, [(0, b"/a".to_vec(), vec![]), (2, b"/app/".to_vec(), b"/app0".to_vec())]);
}

#[test]
fn standing_alarms_are_alarm_member_keys_with_empty_values() {
    use crate::apply::AlarmKind;
    let mut state = KvState::new(ApplyLimits::default());
    for (member_id, kind) in
        [(0x10, AlarmKind::NoSpace), (0x2, AlarmKind::Corrupt), (0x2, AlarmKind::NoSpace)]
    {
        state.apply(&Request::Alarm { activate: true, member_id, kind }).result.unwrap();
    }
    let buckets = buckets_of(&state, 1);
    let alarms = bucket(&buckets, "alarm");
    let mut got: Vec<(u64, i32)> = alarms
        .iter()
        .map(|(k, v)| {
            assert!(v.is_empty());
            let m = etcdserverpb::AlarmMember::decode(&k[..]).unwrap();
            (m.member_id, m.alarm)
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, [(0x2, 1), (0x2, 2), (0x10, 1)]);
    // etcd's bytes for {MemberID: 0x10, Alarm: NOSPACE}.
    assert!(alarms.iter().any(|(k, _)| k == &[0x08, 0x10, 0x10, 0x01]));
}
