//! The import against the export (`etcd_db`): a state written as etcd's backend and
//! read back is the same state; a real etcd 3.4.23 snapshot (testdata) reads as what
//! was written to that etcd; and bad input is refused by name.

use sha2::{Digest, Sha256};

use super::*;
use crate::apply::Request;
use crate::mvcc::{DeleteRangeRequest, PutRequest};
use crate::storage::bbolt_read::read_buckets;
use crate::storage::etcd_db::EtcdDb;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// `etcdctl snapshot save` of etcd 3.4.23 after: put foo 1, put foo 2, put bar x,
/// del bar, lease grant 300 + put lk v --lease, user root (role root), role r1
/// (readwrite /app/ prefix), user app:pw with r1. Auth not enabled.
const ETCD_SNAPSHOT: &[u8] = include_bytes!("testdata/etcd-3.4.23.snapshot");

fn file_of(state: &KvState) -> Vec<u8> {
    let db = EtcdDb::of(state, 9, "3.5.0");
    let plan = db.plan().unwrap();
    let mut file = Vec::new();
    db.write(&plan, &mut |bytes| file.extend_from_slice(bytes)).unwrap();
    file
}

fn import(file: &[u8], opts: ImportOptions) -> Result<Imported, String> {
    let buckets = read_buckets(file).map_err(|e| e.to_string())?;
    import_etcd_db(&buckets, ApplyLimits::default(), opts)
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

fn get(state: &KvState, key: &str, revision: i64) -> crate::error::Result<Vec<crate::mvcc::KeyValue>> {
    let req = RangeRequest { key: key.into(), revision, ..Default::default() };
    state.kv.range(&req).map(|r| r.kvs)
}

/// A state with history, a compaction, leases with keys, users, roles and auth on.
fn rich_state() -> KvState {
    let mut state = KvState::new(ApplyLimits::default());
    state.apply(&Request::LeaseGrant { id: 0x77, ttl_s: 60 }).result.unwrap();
    state.apply(&Request::LeaseGrant { id: -5, ttl_s: 600 }).result.unwrap();
    state.apply(&Request::LeaseCheckpoint { checkpoints: vec![(-5, 321)] }).result.unwrap();
    for i in 0..300 {
        put(&mut state, &format!("k{i:03}"), &"v".repeat(i), if i % 7 == 0 { 0x77 } else { 0 });
    }
    for i in 0..50 {
        put(&mut state, &format!("k{i:03}"), "second", 0);
    }
    put(&mut state, "a", "1", 0);
    put(&mut state, "a", "2", 0);
    delete(&mut state, "a");
    put(&mut state, "a", "3", -5);
    let compact_at = state.kv.current_revision() - 100;
    state.apply(&Request::Compact { revision: compact_at }).result.unwrap();
    put(&mut state, "k299", "after compaction", 0);
    auth(&mut state, AuthRequest::UserAdd { name: "root".into(), password_hash: Some("$2a$04$h".into()) });
    auth(&mut state, AuthRequest::UserGrantRole { user: "root".into(), role: "root".into() });
    auth(&mut state, AuthRequest::UserAdd { name: "cert".into(), password_hash: None });
    auth(&mut state, AuthRequest::RoleAdd { name: "app".into() });
    let perm = Permission { kind: PermKind::ReadWrite, key: b"/app/".to_vec(), range_end: b"/app0".to_vec() };
    auth(&mut state, AuthRequest::RoleGrantPermission { role: "app".into(), perm });
    auth(&mut state, AuthRequest::UserGrantRole { user: "cert".into(), role: "app".into() });
    auth(&mut state, AuthRequest::Enable);
    state.apply(&Request::Alarm { activate: true, member_id: 7, kind: AlarmKind::NoSpace }).result.unwrap();
    state
}

#[test]
fn a_state_round_trips_through_etcds_backend() {
    let state = rich_state();
    let back = import(&file_of(&state), ImportOptions::default()).unwrap();
    assert_eq!(back.state.kv, state.kv, "every stored version, both revisions");
    assert_eq!(back.state.leases, state.leases, "leases, checkpoints and their keys");
    assert!(back.state.auth.is_enabled());
    let users: Vec<_> = back.state.auth.users().collect();
    assert_eq!(users, state.auth.users().collect::<Vec<_>>());
    assert_eq!(back.state.auth.roles().collect::<Vec<_>>(), state.auth.roles().collect::<Vec<_>>());
    assert_eq!(back.state.alarms.list(None), vec![(7, AlarmKind::NoSpace)]);
    assert_eq!(back.state.kv.hash_kv(0), state.kv.hash_kv(0));
    assert_eq!(back.state.size_bytes(), state.size_bytes());
    assert_eq!(back.warnings, vec!["alarm NOSPACE of member 7 is standing".to_string()]);
}

/// The module docs' worked example.
#[test]
fn bump_revision_and_mark_compacted() {
    let mut state = KvState::new(ApplyLimits::default());
    put(&mut state, "foo", "1", 0);
    put(&mut state, "foo", "2", 0);
    delete(&mut state, "foo");
    put(&mut state, "foo", "3", 0);
    let file = file_of(&state);
    let plain = import(&file, ImportOptions::default()).unwrap().state;
    assert_eq!(plain.kv.key_index(b"foo").unwrap().to_string(), "{2.0 3.0 4.0(t)} {5.0}");
    assert_eq!(plain.kv.current_revision(), 5);
    assert_eq!(get(&plain, "foo", 3).unwrap()[0].value, b"2");

    let opts = ImportOptions { bump_revision: 100, mark_compacted: true };
    let bumped = import(&file, opts).unwrap().state;
    assert_eq!((bumped.kv.current_revision(), bumped.kv.compact_revision()), (105, 105));
    let foo = &get(&bumped, "foo", 0).unwrap()[0];
    assert_eq!((&foo.value[..], foo.create_revision, foo.mod_revision, foo.version), (&b"3"[..], 5, 5, 1));
    assert_eq!(get(&bumped, "foo", 104), Err(crate::error::Error::Compacted));

    for bad in [
        ImportOptions { bump_revision: 5, mark_compacted: false },
        ImportOptions { bump_revision: 0, mark_compacted: true },
    ] {
        let err = import(&file, bad).unwrap_err();
        assert!(err.contains("--mark-compacted"), "{err}");
    }
}

#[test]
fn a_real_etcd_snapshot_reads_as_what_was_written_to_it() {
    let db = split_snapshot_file(ETCD_SNAPSHOT, false).unwrap();
    let imported = import(db, ImportOptions::default()).unwrap();
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let st = &imported.state;
    assert_eq!(st.kv.current_revision(), 6);
    let foo = &get(st, "foo", 0).unwrap()[0];
    assert_eq!((&foo.value[..], foo.create_revision, foo.mod_revision, foo.version), (&b"2"[..], 2, 3, 2));
    assert_eq!(get(st, "foo", 2).unwrap()[0].value, b"1");
    assert!(get(st, "bar", 0).unwrap().is_empty());
    assert_eq!(get(st, "bar", 4).unwrap()[0].value, b"x");
    let lk = &get(st, "lk", 0).unwrap()[0];
    let lease = st.leases.get(lk.lease).expect("lk's lease");
    assert_eq!(lease.ttl_s(), 300);
    assert!(lease.keys().contains(&b"lk".to_vec()));
    assert!(!st.auth.is_enabled());
    assert!(st.auth.has_role("root", "root") && st.auth.has_role("app", "r1"));
    assert!(st.auth.user("app").unwrap().password_hash.as_deref().unwrap().starts_with("$2a$"));
    let r1 = st.auth.role("r1").unwrap();
    assert_eq!(
        r1.perms,
        vec![Permission { kind: PermKind::ReadWrite, key: b"/app/".to_vec(), range_end: b"/app0".to_vec() }]
    );
}

#[test]
fn the_sha256_trailer_is_checked() {
    let file = file_of(&rich_state());
    let mut saved = file.clone();
    saved.extend_from_slice(&Sha256::digest(&file));
    assert_eq!(split_snapshot_file(&saved, false).unwrap(), &file[..]);
    let mut flipped = saved.clone();
    flipped[5000] ^= 1;
    let err = split_snapshot_file(&flipped, false).unwrap_err();
    assert!(err.contains("sha256"), "{err}");
    assert_eq!(split_snapshot_file(&flipped, true).unwrap().len(), file.len(), "--skip-hash-check");
    let err = split_snapshot_file(&file, false).unwrap_err();
    assert!(err.contains("--skip-hash-check"), "{err}");
    assert_eq!(split_snapshot_file(&file, true).unwrap(), &file[..]);
    let err = split_snapshot_file(&saved[..saved.len() - 1000], false).unwrap_err();
    assert!(err.contains("missing hash"), "a truncated file: {err}");
}

#[test]
fn foreign_and_inconsistent_databases_are_refused() {
    use crate::storage::bbolt::{write_db, BucketSource};
    let write = |buckets: &[(&[u8], Pairs)]| {
        let sources: Vec<BucketSource<'_>> =
            buckets.iter().map(|(name, pairs)| BucketSource { name, pairs }).collect();
        let mut file = Vec::new();
        write_db(&sources, &mut |b| file.extend_from_slice(b)).unwrap();
        file
    };
    let err = import(&write(&[(b"users", vec![])]), ImportOptions::default()).unwrap_err();
    assert!(err.contains("not an etcd backend"), "{err}");
    let rev = |main: i64| Revision::new(main, 0).to_etcd_bytes().to_vec();
    let cases: Vec<(Pairs, &str)> = vec![
        (vec![(b"short".to_vec(), vec![])], "is not a revision"),
        (vec![(rev(2), vec![0xff, 0xff])], "not an mvccpb.KeyValue"),
        (vec![(rev(0), vec![])], "is not a revision"),
    ];
    for (pairs, want) in cases {
        let err =
            import(&write(&[(b"key", pairs), (b"meta", vec![])]), ImportOptions::default()).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
    // A version whose create revision is after it: refused by the store's own checks.
    let kv = mvccpb::KeyValue {
        key: b"k".to_vec(),
        create_revision: 9,
        mod_revision: 2,
        version: 1,
        ..Default::default()
    };
    let file = write(&[(b"key", vec![(rev(2), kv.encode_to_vec())]), (b"meta", vec![])]);
    let err = import(&file, ImportOptions::default()).unwrap_err();
    assert!(err.contains("create revision 9"), "{err}");
    // Auth on without a root user.
    let auth = vec![(b"authEnabled".to_vec(), vec![1])];
    let file = write(&[(b"auth", auth), (b"key", vec![]), (b"meta", vec![])]);
    let err = import(&file, ImportOptions::default()).unwrap_err();
    assert!(err.contains("auth is enabled"), "{err}");
}

/// (tombstone, key (0: none), create revision, version, lease) of one stored version.
fn arb_version() -> impl proptest::strategy::Strategy<Value = (bool, u8, i64, i64, i64)> {
    use proptest::prelude::*;
    (any::<bool>(), 0u8..4, -1i64..45, -2i64..6, -1i64..3)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Any history in bucket `key` (revisions in order, anything in the values):
    /// refused or imported, never a panic; what is imported passed the store's checks.
    #[test]
    fn any_key_bucket_imports_or_is_refused(
        versions in proptest::collection::btree_map((1i64..40, 0i64..3), arb_version(), 0..40),
        compacted in 0i64..45,
        bump in 0i64..3,
    ) {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = versions
            .into_iter()
            .map(|((main, sub), (tombstone, key, create, version, lease))| {
                let mut k = Revision::new(main, sub).to_etcd_bytes().to_vec();
                if tombstone {
                    k.push(b't');
                }
                let key = if key == 0 { Vec::new() } else { vec![b'a' + key] };
                let value = vec![(main % 251) as u8];
                let kv = mvccpb::KeyValue {
                    key, create_revision: create, mod_revision: main, version, value, lease,
                };
                (k, kv.encode_to_vec())
            })
            .collect();
        let mark = Revision::new(compacted, 0).to_etcd_bytes().to_vec();
        let meta = [(b"finishedCompactRev".to_vec(), mark)];
        let key_refs: PairRefs<'_> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let meta_refs: PairRefs<'_> = meta.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let buckets = [
            BucketRef { name: b"key", pairs: key_refs },
            BucketRef { name: b"meta", pairs: meta_refs },
        ];
        let opts = ImportOptions { bump_revision: bump, mark_compacted: bump > 0 };
        if let Ok(imported) = import_etcd_db(&buckets, ApplyLimits::default(), opts) {
            let kv = &imported.state.kv;
            proptest::prop_assert!(kv.current_revision() >= compacted);
            let back = KvStore::decode_snapshot(&kv.encode_snapshot());
            proptest::prop_assert_eq!(back.as_ref(), Ok(kv));
        }
    }
}
