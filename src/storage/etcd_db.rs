//! etcd's backend database of a member's state: the bbolt file etcd 3.4 keeps as
//! `member/snap/db` and sends from Maintenance.Snapshot, made from a [`KvState`], so
//! that `etcdctl snapshot status` reads our revision and key count, and `etcdctl
//! snapshot restore` followed by a real etcd gives back our keys (with their
//! revisions and versions), leases, users, roles and compaction point.
//!
//! # Buckets, as etcd 3.4 holds them (integers big-endian)
//!
//! ```text
//! alarm            etcdserverpb.AlarmMember {memberID, alarm} → "" (a standing alarm)
//! auth             authEnabled → [1] or [0]; authRevision → u64
//! authRoles        name → authpb.Role {name, keyPermission: [{permType, key, range_end}]}
//! authUsers        name → authpb.User {name, password: bcrypt hash ("" with no_password),
//!                                      roles, options: {no_password}}
//! cluster          clusterVersion → "3.5.0" (the cluster version the caller names)
//! key              every stored version (mvcc, tombstones included), revision order:
//!                  main u64 '_' sub u64 ['t' if tombstone] → mvccpb.KeyValue
//! lease            ID i64 → leasepb.Lease {ID, TTL, RemainingTTL (last checkpoint)}
//! members          (empty, see below)
//! members_removed  (empty)
//! meta             consistent_index → u64, the raft index the state is applied to;
//!                  finishedCompactRev, scheduledCompactRev → main u64 '_' 0 u64, the
//!                  compaction revision (only once compacted)
//! ```
//!
//! Worked example: a fresh store, `put foo bar` (revision 2), `delete foo` (3),
//! applied through raft index 9, never compacted, auth never used:
//!
//! ```text
//! auth      authEnabled → 00   authRevision → 00..01
//! cluster   clusterVersion → "3.5.0"
//! key       00..02 5f 00..00   → 0a 03 "foo" 10 02 18 02 20 01 2a 03 "bar"
//!           00..03 5f 00..00 74 → 0a 03 "foo"                    (the tombstone)
//! meta      consistent_index → 00 00 00 00 00 00 00 09
//! ```
//!
//! `etcdctl snapshot status` reports the main revision of the last key of bucket `key`
//! (3 here, our current revision: compaction never drops the newest version) and the
//! pairs of every bucket as totalKey (6 here).
//!
//! Members: etcd 3.4 reads membership from its WAL and v2 store, never from these
//! buckets, and `etcdctl snapshot restore` makes a new cluster from its own flags (and,
//! a 3.4 quirk, deletes every KV key named like a member ID found in `members`), so the
//! member buckets go out empty. bbolt keeps a bucket's pairs in key order; the small
//! buckets are built sorted here, `key` is walked from the store's revision-ordered
//! versions without a copy.

use crate::apply::KvState;
use crate::auth::{Role, User};
use crate::mvcc::{Revision, StoredEntry};
use crate::proto::{authpb, etcdserverpb};
use crate::storage::bbolt::{BboltError, BucketSource, DbPlan, PairSource};

/// leasepb.Lease, as etcd's lessor stores it (written here, read by `etcd_import`).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LeasePb {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Bucket `key`: the store's versions in revision order, encoded as they are walked.
struct KeyBucket<'a> {
    entries: Vec<StoredEntry<'a>>,
}

impl PairSource for KeyBucket<'_> {
    fn walk(&self, visit: &mut dyn FnMut(&[u8], &[u8])) {
        let (mut key, mut value) = (Vec::with_capacity(18), Vec::new());
        for entry in &self.entries {
            key.clear();
            value.clear();
            entry.write_backend_key(&mut key);
            entry.write_backend_value(&mut value);
            visit(&key, &value);
        }
    }
}

/// The etcd backend image of one [`KvState`], borrowed from it: plan it, then write it
/// (both under the same read of the state).
pub struct EtcdDb<'a> {
    alarm: Pairs,
    auth: Pairs,
    auth_roles: Pairs,
    auth_users: Pairs,
    cluster: Pairs,
    key: KeyBucket<'a>,
    lease: Pairs,
    meta: Pairs,
}

const EMPTY: &Pairs = &Vec::new();

impl<'a> EtcdDb<'a> {
    /// `consistent_index`: the raft index `state` is applied through;
    /// `cluster_version`: what bucket `cluster` names (etcd's "major.minor.0").
    pub fn of(state: &'a KvState, consistent_index: u64, cluster_version: &str) -> EtcdDb<'a> {
        EtcdDb {
            alarm: alarm_pairs(state),
            auth: auth_pairs(state),
            auth_roles: state
                .auth
                .roles()
                .map(|(name, role)| (name.clone().into_bytes(), role_pb(name, role)))
                .collect(),
            auth_users: state
                .auth
                .users()
                .map(|(name, user)| (name.clone().into_bytes(), user_pb(name, user)))
                .collect(),
            cluster: vec![(b"clusterVersion".to_vec(), cluster_version.as_bytes().to_vec())],
            key: KeyBucket { entries: state.kv.stored_entries() },
            lease: lease_pairs(state),
            meta: meta_pairs(consistent_index, state.kv.compact_revision()),
        }
    }

    /// The buckets in name order (bbolt's byte order).
    fn buckets(&self) -> [BucketSource<'_>; 10] {
        [
            BucketSource { name: b"alarm", pairs: &self.alarm },
            BucketSource { name: b"auth", pairs: &self.auth },
            BucketSource { name: b"authRoles", pairs: &self.auth_roles },
            BucketSource { name: b"authUsers", pairs: &self.auth_users },
            BucketSource { name: b"cluster", pairs: &self.cluster },
            BucketSource { name: b"key", pairs: &self.key },
            BucketSource { name: b"lease", pairs: &self.lease },
            BucketSource { name: b"members", pairs: EMPTY },
            BucketSource { name: b"members_removed", pairs: EMPTY },
            BucketSource { name: b"meta", pairs: &self.meta },
        ]
    }

    /// Lay out the file (a first walk over everything); its size is then known.
    pub fn plan(&self) -> Result<DbPlan, BboltError> {
        DbPlan::new(&self.buckets())
    }

    /// Emit the file `plan` laid out, in order.
    pub fn write(&self, plan: &DbPlan, emit: &mut dyn FnMut(&[u8])) -> Result<(), BboltError> {
        plan.write(&self.buckets(), emit)
    }
}

/// Standing alarms, keyed by their protobuf (as etcd's alarm store keeps them).
fn alarm_pairs(state: &KvState) -> Pairs {
    let mut pairs: Pairs = state
        .alarms
        .list(None)
        .into_iter()
        .map(|(member_id, kind)| {
            let pb = etcdserverpb::AlarmMember { member_id, alarm: kind.to_pb() };
            (prost::Message::encode_to_vec(&pb), Vec::new())
        })
        .collect();
    pairs.sort_unstable();
    pairs
}

fn auth_pairs(state: &KvState) -> Pairs {
    vec![
        (b"authEnabled".to_vec(), vec![u8::from(state.auth.is_enabled())]),
        (b"authRevision".to_vec(), state.auth.revision().to_be_bytes().to_vec()),
    ]
}

fn user_pb(name: &str, user: &User) -> Vec<u8> {
    let pb = authpb::User {
        name: name.as_bytes().to_vec(),
        password: user.password_hash.clone().unwrap_or_default().into_bytes(),
        roles: user.roles.iter().cloned().collect(),
        options: Some(authpb::UserAddOptions { no_password: user.password_hash.is_none() }),
    };
    prost::Message::encode_to_vec(&pb)
}

fn role_pb(name: &str, role: &Role) -> Vec<u8> {
    let key_permission = role
        .perms
        .iter()
        .map(|p| authpb::Permission {
            perm_type: p.kind.to_pb(),
            key: p.key.clone(),
            range_end: p.range_end.clone(),
        })
        .collect();
    prost::Message::encode_to_vec(&authpb::Role { name: name.as_bytes().to_vec(), key_permission })
}

/// Leases by the big-endian bytes of their ID (negative IDs sort after positive ones).
fn lease_pairs(state: &KvState) -> Pairs {
    let mut pairs: Pairs = state
        .leases
        .iter()
        .map(|(id, lease)| {
            let pb = LeasePb { id, ttl: lease.ttl_s(), remaining_ttl: lease.remaining_ttl_s() };
            (id.to_be_bytes().to_vec(), prost::Message::encode_to_vec(&pb))
        })
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    pairs
}

fn meta_pairs(consistent_index: u64, compact_revision: i64) -> Pairs {
    let mut pairs = vec![(b"consistent_index".to_vec(), consistent_index.to_be_bytes().to_vec())];
    if compact_revision > 0 {
        let rev = Revision::new(compact_revision, 0).to_etcd_bytes().to_vec();
        pairs.push((b"finishedCompactRev".to_vec(), rev.clone()));
        pairs.push((b"scheduledCompactRev".to_vec(), rev));
    }
    pairs
}

#[cfg(test)]
#[path = "etcd_db_test.rs"]
mod etcd_db_test;
