//! `--quota-backend-bytes`, as etcd's quota check before a write is proposed: a
//! write that would take the store past the quota raises this member's NOSPACE
//! alarm through raft and is refused with "database space exceeded". While the
//! alarm stands, apply refuses what grows the store (see `apply::alarms`); after a
//! compaction and a defragment, `etcdctl alarm disarm` clears it.

use tonic::Status;

use super::{propose, status, Context};
use crate::apply::{AlarmKind, Request};
use crate::error::Error;

/// Bytes a version costs beyond its key and value (as the store's size counts it).
const VERSION_OVERHEAD_BYTES: u64 = 40;

/// What a put may add to the store.
pub fn put_cost(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64 + VERSION_OVERHEAD_BYTES
}

/// What a lease grant may add.
pub const LEASE_COST: u64 = VERSION_OVERHEAD_BYTES;

impl Context {
    /// Refuse a write of `cost` bytes that would pass the quota, raising NOSPACE.
    pub async fn check_quota(&self, cost: u64) -> Result<(), Status> {
        let size = self.node.state().read().size_bytes();
        if size.saturating_add(cost) <= self.quota_backend_bytes {
            return Ok(());
        }
        let raise = Request::Alarm { activate: true, member_id: self.member_id, kind: AlarmKind::NoSpace };
        if let Err(e) = propose(self, raise).await {
            tracing::warn!(error = %e.message(), "could not raise the NOSPACE alarm");
        }
        Err(status(Error::NoSpace))
    }
}
