//! storage/: the bytes that survive a restart. Synchronous, over [`Disk`] only.
//!
//! - [`record`]: the WAL frame codec (length, CRC32C, kind, index, payload).
//! - [`segment`]: segment file names `{seq:016x}-{first_index:016x}.wal`.
//! - `replay`: decoding a segment image and the torn-tail-vs-corruption rule.
//! - [`wal`]: the segmented, group-committed write-ahead log.
//! - [`snapshot`]: one CRC-checked file per snapshot, written atomically.
//! - [`meta`]: small CRC-checked files (Raft vote) replaced atomically.
//! - [`bbolt`]: a sans-IO writer of bbolt files, the format of etcd's backend.
//! - [`etcd_db`]: etcd's backend database of the state, in that format (what
//!   Maintenance.Snapshot sends).
//!
//! Durability contract (architecture.md): a record is durable once `Wal::sync`
//! returns Ok; on open a torn tail is truncated and anything else bad is
//! [`WalError::Corrupt`], which the node reports and refuses to start with.
//!
//! [`Disk`]: crate::env::disk::Disk

pub mod bbolt;
mod error;
pub mod etcd_db;
pub mod meta;
pub mod record;
mod replay;
pub mod segment;
pub mod snapshot;
pub mod wal;

pub use error::WalError;
pub use record::Record;
pub use wal::{SyncReport, Wal, WalOptions, WalStats};
