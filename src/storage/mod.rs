//! storage/: the bytes that survive a restart. Synchronous, over [`Disk`] only.
//!
//! - [`record`]: the WAL frame codec (length, CRC32C, kind, index, payload).
//! - [`segment`]: segment file names `{seq:016x}-{first_index:016x}.wal`.
//! - `replay`: decoding a segment image and the torn-tail-vs-corruption rule.
//! - [`wal`]: the segmented, group-committed write-ahead log.
//! - [`snapshot`]: one CRC-checked file per snapshot, written atomically.
//! - [`meta`]: small CRC-checked files (Raft vote) replaced atomically.
//! - [`bbolt`]: a sans-IO writer of bbolt files, the format of etcd's backend.
//! - [`bbolt_read`]: a sans-IO, bounds-checked reader of them (snapshot restore).
//! - [`etcd_db`]: etcd's backend database of the state, in that format (what
//!   Maintenance.Snapshot sends).
//! - [`etcd_import`]: the inverse, such a database (a snapshot file) back into the
//!   state (`metastore snapshot restore`).
//!
//! Durability contract (architecture.md): a record is durable once `Wal::sync`
//! returns Ok; on open a torn tail is truncated and anything else bad is
//! [`WalError::Corrupt`], which the node reports and refuses to start with.
//!
//! [`Disk`]: crate::env::disk::Disk

pub mod bbolt;
pub mod bbolt_read;
mod error;
pub mod etcd_db;
pub mod etcd_import;
pub mod meta;
pub mod record;
mod replay;
pub mod segment;
pub mod snapshot;
pub mod wal;

pub use error::WalError;
pub use record::Record;
pub use wal::{SyncReport, Wal, WalOptions, WalStats};
