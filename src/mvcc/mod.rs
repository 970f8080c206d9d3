//! MVCC: the multi-version key-value state machine of etcd's KV API (etcd's
//! server/storage/mvcc plus the KV half of etcdserver's applier), sans I/O.
//!
//! Owns: the key space and its history ([`KvStore`]), revisions ([`Revision`]), the
//! per-key generations ([`KeyIndex`]), evaluation of Range / Put / DeleteRange / Txn
//! with etcd 3.5's semantics and errors, compaction, consistency hashes, and the
//! snapshot encoding of all of it; and when to compact on its own ([`compactor`],
//! etcd's auto compaction, decided from time and revisions passed in).
//!
//! Does not own: leases (writes ask a `lease_ok` callback whether a lease exists, and
//! report attach/detach through the returned [`Event`]s: a put's `kv.lease` and its
//! `prev_kv.lease`, a delete's `prev_kv.lease`), watch delivery (it consumes the
//! events), auth, raft, response headers (the header revision is
//! [`KvStore::current_revision`] after the call), and persistence (the caller stores
//! [`KvStore::encode_snapshot`]'s bytes).
//!
//! Every write is a function of the store and the request only, so replicas applying
//! the same log stay identical; every failing request leaves the store unchanged.

pub mod compactor;
pub mod key_index;
pub mod revision;
pub mod types;

mod hash;
mod history;
mod range;
mod snapshot;
mod store;
mod txn;
mod txn_check;
mod write;

#[cfg(test)]
mod model_test;
#[cfg(test)]
mod test_util;

pub use hash::StoredEntry;
pub use history::HistoryPage;
pub use key_index::{KeyIndex, StoredRef, VersionRef};
pub use range::KeySpan;
pub use revision::Revision;
pub use snapshot::SnapshotEncoder;
pub use store::KvStore;
pub use txn_check::{
    check_delete_request, check_key, check_put_fields, check_put_request, check_txn, MAX_TXN_NESTING,
};
pub use types::*;
