//! [`LeaseError`]: the lease failures that etcd reports to clients, with etcd's gRPC
//! codes and exact messages (v3rpc/rpctypes: `ErrGRPCLeaseNotFound`,
//! `ErrGRPCLeaseExist`, `ErrGRPCLeaseTTLTooLarge`).
//!
//! Kept apart from [`crate::error::Error`] until that enum gains the two variants it
//! lacks (lease exists, TTL too large); `NotFound` is `Error::LeaseNotFound`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Code;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseError {
    /// Unknown lease ID (and, as in etcd, a grant that reaches apply with ID 0).
    NotFound,
    /// Grant of an ID that is already in use.
    Exists,
    /// Grant with a TTL above [`super::MAX_LEASE_TTL_S`].
    TtlTooLarge,
}

impl LeaseError {
    pub fn code(&self) -> Code {
        match self {
            LeaseError::NotFound => Code::NotFound,
            LeaseError::Exists => Code::FailedPrecondition,
            LeaseError::TtlTooLarge => Code::OutOfRange,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            LeaseError::NotFound => "etcdserver: requested lease not found",
            LeaseError::Exists => "etcdserver: lease already exists",
            LeaseError::TtlTooLarge => "etcdserver: too large lease TTL",
        }
    }
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for LeaseError {}
