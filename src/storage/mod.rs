//! storage/: the bytes that survive a restart. Synchronous, over [`Disk`] only.
//!
//! - [`record`]: the WAL frame codec (length, CRC32C, kind, index, payload).
//! - [`segment`]: segment file names `{seq:016x}-{first_index:016x}.wal`.
//! - `replay`: decoding a segment image and the torn-tail-vs-corruption rule.
//! - [`wal`]: the segmented, group-committed write-ahead log.
//! - [`snapshot`]: one CRC-checked file per snapshot, written atomically.
//! - [`meta`]: small CRC-checked files (Raft vote) replaced atomically.
//!
//! Durability contract (architecture.md): a record is durable once `Wal::sync`
//! returns Ok; on open a torn tail is truncated and anything else bad is
//! [`WalError::Corrupt`], which the node reports and refuses to start with.
//!
//! [`Disk`]: crate::env::disk::Disk

mod error;
pub mod meta;
pub mod record;
mod replay;
pub mod segment;
pub mod snapshot;
pub mod wal;

pub use error::WalError;
pub use record::Record;
pub use wal::{SyncReport, Wal, WalOptions, WalStats};
