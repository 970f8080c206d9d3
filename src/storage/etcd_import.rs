//! The inverse of [`super::etcd_db`]: etcd 3.4's backend database (a snapshot file
//! from `etcdctl snapshot save`, taken from etcd or from MetaStore) read back into a
//! [`KvState`], for `metastore snapshot restore`. Sans I/O: bytes in, state out.
//!
//! # The snapshot file
//!
//! `etcdctl snapshot save` appends the SHA-256 of the database to it: a file whose
//! length is 32 more than a multiple of 512 carries that trailer, which is checked and
//! cut off ([`split_snapshot_file`]); a file without it is refused unless the caller
//! skips the check (etcd's `--skip-hash-check`, for a copied `member/snap/db`).
//!
//! # Buckets → state, as etcd's own restore rebuilds its stores
//!
//! ```text
//! key        every stored version in revision order (main '_' sub ['t']) → mvccpb.KeyValue.
//!            The first version seen of a key starts its history with the create
//!            revision and version it records (older ones were compacted away); later
//!            ones are puts and tombstones on it. A tombstone of a key not live is
//!            skipped (etcd skips it too); a version without a key is etcdutl's
//!            revision-bump marker and only moves the revision.
//! meta       finishedCompactRev / scheduledCompactRev: compacted there (the higher).
//!            The revision is the highest main revision in `key`, at least the
//!            compaction's (etcd's rule).
//! lease      ID → leasepb.Lease {ID, TTL, RemainingTTL}: granted (TTL raised to 1 s at
//!            least), remaining TTL checkpointed; the live keys naming a lease are
//!            attached to it (a key naming a lease that is gone keeps the ID, as etcd)
//! auth       authEnabled; authUsers (bcrypt hash, roles, no_password), authRoles
//!            (permissions): re-made through the auth store's own requests, so its
//!            rules hold; enabled last (refused without root, as etcd refuses)
//! alarm      standing alarms, by member ID
//! members, members_removed, cluster: ignored (membership comes from the flags)
//! ```
//!
//! `bump_revision` (etcdutl's `--bump-revision`) adds to the revision, so that clients
//! that cached revisions of the old cluster never see them go back; `mark_compacted`
//! (required with it, as etcdutl requires) compacts at the bumped revision, as
//! etcdutl marks it, so that watchers resuming from an old revision are told to
//! re-read instead of missing changes.
//!
//! Worked example: the file of `put foo 1` (revision 2), `put foo 2` (3), `del foo`
//! (4), `put foo 3` (5) gives `foo` the history `{2.0 3.0 4.0(t)} {5.0}` and revision
//! 5; with `bump_revision` 100 and `mark_compacted`, revision 105, compacted at 105:
//! `foo` reads as `3` (create 5, version 1) and a read at revision 104 is "compacted".

use std::collections::BTreeMap;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::apply::{AlarmKind, Alarms, ApplyLimits, KvState};
use crate::auth::{AuthRequest, AuthStore, PermKind, Permission};
use crate::lease::LeaseStore;
use crate::mvcc::{KeyIndex, KvStore, RangeRequest, Revision};
use crate::proto::{authpb, etcdserverpb, mvccpb};
use crate::storage::bbolt_read::{BucketRef, PairRefs};
use crate::storage::etcd_db::LeasePb;

/// Length of etcd's integrity trailer.
pub const SHA256_LEN: usize = 32;

/// What to do beyond a plain restore.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    pub bump_revision: i64,
    pub mark_compacted: bool,
}

/// The restored state and what the restore noticed.
#[derive(Debug)]
pub struct Imported {
    pub state: KvState,
    /// What the file held that could not be carried over (each a sentence).
    pub warnings: Vec<String>,
}

/// The database inside a snapshot file: the trailer checked and cut off (see the
/// module docs). Errors name what is wrong.
pub fn split_snapshot_file(file: &[u8], skip_hash_check: bool) -> Result<&[u8], String> {
    let has_hash = file.len() % 512 == SHA256_LEN;
    if !has_hash {
        if skip_hash_check {
            return Ok(file);
        }
        return Err(format!(
            "snapshot missing hash but --skip-hash-check=false: {} bytes is not a database plus its \
             32-byte sha256 (a truncated or foreign file?)",
            file.len()
        ));
    }
    let (db, trailer) = file.split_at(file.len() - SHA256_LEN);
    if !skip_hash_check {
        let actual = Sha256::digest(db);
        if actual.as_slice() != trailer {
            return Err(format!(
                "snapshot is corrupt or truncated: its sha256 is {}, the file records {}",
                hex(actual.as_slice()),
                hex(trailer)
            ));
        }
    }
    Ok(db)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bucket<'a>(buckets: &'a [BucketRef<'a>], name: &str) -> Option<&'a PairRefs<'a>> {
    buckets.iter().find(|b| b.name == name.as_bytes()).map(|b| &b.pairs)
}

/// The raft index the backend has applied up to (bucket `meta`, key
/// `consistent_index`, 8 bytes big-endian), if it records one.
pub fn consistent_index(buckets: &[BucketRef<'_>]) -> Option<u64> {
    let meta = bucket(buckets, "meta")?;
    let (_, v) = meta.iter().find(|(k, _)| *k == b"consistent_index")?;
    v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

/// The state an etcd backend's buckets hold. Errors (a foreign or inconsistent
/// database) name the bucket and key.
pub fn import_etcd_db(
    buckets: &[BucketRef<'_>],
    limits: ApplyLimits,
    opts: ImportOptions,
) -> Result<Imported, String> {
    if opts.bump_revision < 0 {
        return Err(format!("--bump-revision {} is negative", opts.bump_revision));
    }
    if (opts.bump_revision > 0) != opts.mark_compacted {
        return Err("--mark-compacted is required with --bump-revision > 0, and allowed only with it".into());
    }
    let (Some(keys), Some(meta)) = (bucket(buckets, "key"), bucket(buckets, "meta")) else {
        let names: Vec<String> =
            buckets.iter().map(|b| String::from_utf8_lossy(b.name).into_owned()).collect();
        return Err(format!(
            "not an etcd backend: no bucket \"key\" and \"meta\" (buckets: {})",
            names.join(", ")
        ));
    };
    let mut warnings = Vec::new();
    let kv = import_kv(keys, meta, opts, &mut warnings)?;
    let leases = import_leases(bucket(buckets, "lease"), &kv, &mut warnings)?;
    let auth = import_auth(buckets, &mut warnings)?;
    let alarms = import_alarms(bucket(buckets, "alarm"), &mut warnings)?;
    Ok(Imported { state: KvState::from_parts(kv, leases, auth, alarms, limits), warnings })
}

/// A backend key of bucket `key`: the revision and whether it is a tombstone.
fn parse_revision_key(k: &[u8]) -> Option<(Revision, bool)> {
    let tombstone = match k.len() {
        17 => false,
        18 if k[17] == b't' => true,
        _ => return None,
    };
    if k[8] != b'_' {
        return None;
    }
    let main = i64::from_be_bytes(k[..8].try_into().ok()?);
    let sub = i64::from_be_bytes(k[9..17].try_into().ok()?);
    (main >= 1 && sub >= 0).then_some((Revision::new(main, sub), tombstone))
}

/// The main revision of a compaction mark in bucket `meta` (0 if absent).
fn compact_mark(meta: &PairRefs<'_>, name: &str) -> Result<i64, String> {
    let Some((_, v)) = meta.iter().find(|(k, _)| *k == name.as_bytes()) else { return Ok(0) };
    let main = v.get(..8).and_then(|b| b.try_into().ok()).map(i64::from_be_bytes);
    main.filter(|m| *m >= 0)
        .ok_or_else(|| format!("bucket meta: {name} is not a revision ({} bytes)", v.len()))
}

fn import_kv(
    keys: &PairRefs<'_>,
    meta: &PairRefs<'_>,
    opts: ImportOptions,
    warnings: &mut Vec<String>,
) -> Result<KvStore, String> {
    let mut index: BTreeMap<Box<[u8]>, KeyIndex> = BTreeMap::new();
    let mut last_main = 1i64;
    let mut skipped_tombstones = 0usize;
    for (i, (k, v)) in keys.iter().enumerate() {
        let Some((rev, tombstone)) = parse_revision_key(k) else {
            return Err(format!("bucket key: key #{i} ({} bytes) is not a revision", k.len()));
        };
        last_main = last_main.max(rev.main);
        let kv = mvccpb::KeyValue::decode(*v)
            .map_err(|e| format!("bucket key: revision {rev}: not an mvccpb.KeyValue: {e}"))?;
        if kv.key.is_empty() {
            continue; // etcdutl's revision-bump marker
        }
        let value: Box<[u8]> = kv.value.into();
        match index.get_mut(&kv.key[..]) {
            None if tombstone => skipped_tombstones += 1,
            None => {
                let ki = KeyIndex::restore(rev, kv.create_revision, kv.version, value, kv.lease);
                index.insert(kv.key.into(), ki);
            }
            Some(ki) if tombstone => {
                if ki.latest().is_none() {
                    skipped_tombstones += 1;
                } else {
                    ki.tombstone(rev).map_err(|e| format!("bucket key: revision {rev}: {e}"))?;
                }
            }
            Some(ki) => {
                ki.put(rev, value, kv.lease).map_err(|e| format!("bucket key: revision {rev}: {e}"))?;
            }
        }
    }
    if skipped_tombstones > 0 {
        warnings.push(format!("skipped {skipped_tombstones} tombstones of keys that were not live"));
    }
    let compacted = compact_mark(meta, "finishedCompactRev")?.max(compact_mark(meta, "scheduledCompactRev")?);
    let current = last_main.max(compacted);
    let bumped = current
        .checked_add(opts.bump_revision)
        .ok_or_else(|| format!("--bump-revision {} overflows revision {current}", opts.bump_revision))?;
    let mut store = KvStore::from_parts(bumped, -1, index.into_iter().collect())
        .map_err(|e| format!("bucket key: {e}"))?;
    for at in [compacted, if opts.mark_compacted { bumped } else { 0 }] {
        if at > 0 && at > store.compact_revision() {
            store.compact(at).map_err(|e| format!("compact at {at}: {e}"))?;
        }
    }
    Ok(store)
}

fn import_leases(
    pairs: Option<&PairRefs<'_>>,
    kv: &KvStore,
    warnings: &mut Vec<String>,
) -> Result<LeaseStore, String> {
    let mut leases = LeaseStore::new();
    for (k, v) in pairs.into_iter().flatten() {
        let pb =
            LeasePb::decode(*v).map_err(|e| format!("bucket lease: {k:02x?}: not a leasepb.Lease: {e}"))?;
        match leases.grant(pb.id, pb.ttl, 1) {
            Ok(_) => {
                if pb.remaining_ttl > 0 {
                    leases.checkpoint(pb.id, pb.remaining_ttl);
                }
            }
            Err(e) => warnings.push(format!("lease {:x} (TTL {} s) not restored: {e}", pb.id, pb.ttl)),
        }
    }
    let all = RangeRequest { key: vec![0], range_end: vec![0], keys_only: true, ..Default::default() };
    let live = kv.range(&all).map_err(|e| format!("reading the restored keys: {e}"))?;
    let mut orphans = 0usize;
    for item in live.kvs.iter().filter(|kv| kv.lease != 0) {
        if leases.attach(item.lease, &item.key).is_err() {
            orphans += 1;
        }
    }
    if orphans > 0 {
        warnings.push(format!(
            "{orphans} keys name a lease the snapshot does not hold (kept, as etcd keeps them)"
        ));
    }
    Ok(leases)
}

fn import_auth(buckets: &[BucketRef<'_>], warnings: &mut Vec<String>) -> Result<AuthStore, String> {
    let mut auth = AuthStore::new();
    let mut apply = |req: AuthRequest, warnings: &mut Vec<String>| {
        if let Err(e) = auth.apply(&req) {
            warnings.push(format!("auth: {req:?} not restored: {e}"));
        }
    };
    let mut users = Vec::new();
    for (k, v) in bucket(buckets, "authRoles").into_iter().flatten() {
        let role = authpb::Role::decode(*v)
            .map_err(|e| format!("bucket authRoles: {k:?}: not an authpb.Role: {e}"))?;
        let name = String::from_utf8_lossy(&role.name).into_owned();
        apply(AuthRequest::RoleAdd { name: name.clone() }, warnings);
        for p in role.key_permission {
            let Some(kind) = PermKind::from_pb(p.perm_type) else {
                warnings.push(format!("auth: role {name}: unknown permission type {}", p.perm_type));
                continue;
            };
            let perm = Permission { kind, key: p.key, range_end: p.range_end };
            apply(AuthRequest::RoleGrantPermission { role: name.clone(), perm }, warnings);
        }
    }
    for (k, v) in bucket(buckets, "authUsers").into_iter().flatten() {
        let user = authpb::User::decode(*v)
            .map_err(|e| format!("bucket authUsers: {k:?}: not an authpb.User: {e}"))?;
        let no_password = user.options.is_some_and(|o| o.no_password) || user.password.is_empty();
        let hash = String::from_utf8(user.password)
            .map_err(|_| format!("bucket authUsers: {k:?}: password hash is not text"))?;
        let name = String::from_utf8_lossy(&user.name).into_owned();
        apply(
            AuthRequest::UserAdd { name: name.clone(), password_hash: (!no_password).then_some(hash) },
            warnings,
        );
        users.push((name, user.roles));
    }
    for (user, roles) in users {
        for role in roles {
            apply(AuthRequest::UserGrantRole { user: user.clone(), role }, warnings);
        }
    }
    let enabled = bucket(buckets, "auth")
        .and_then(|p| p.iter().find(|(k, _)| *k == b"authEnabled"))
        .is_some_and(|(_, v)| v.first() == Some(&1));
    if enabled {
        auth.apply(&AuthRequest::Enable)
            .map_err(|e| format!("auth is enabled in the snapshot but cannot be enabled here: {e}"))?;
    }
    Ok(auth)
}

fn import_alarms(pairs: Option<&PairRefs<'_>>, warnings: &mut Vec<String>) -> Result<Alarms, String> {
    let mut alarms = Alarms::default();
    for (k, _) in pairs.into_iter().flatten() {
        let am = etcdserverpb::AlarmMember::decode(*k)
            .map_err(|e| format!("bucket alarm: {k:02x?}: not an AlarmMember: {e}"))?;
        match AlarmKind::from_pb(am.alarm) {
            Some(kind) => {
                alarms.activate(am.member_id, kind);
                warnings.push(format!("alarm {} of member {:x} is standing", kind.name(), am.member_id));
            }
            None => warnings.push(format!("alarm type {} of member {:x} ignored", am.alarm, am.member_id)),
        }
    }
    Ok(alarms)
}

#[cfg(test)]
#[path = "etcd_import_test.rs"]
mod etcd_import_test;
