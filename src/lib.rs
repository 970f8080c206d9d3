//! MetaStore: an etcd-v3-compatible, Raft-replicated key-value store whose raft and
//! service code runs both on real tokio and inside the madsim simulator.
//!
//! Layers, outside in: [`server`] (etcd's gRPC API) → [`raft`] (openraft glue) →
//! [`apply`] (the deterministic state machine) → [`mvcc`] (sans-IO store) ;
//! [`storage`] (WAL, snapshots) → [`env`] (the one door to the world).
//! [`node::Node`] starts a whole node in-process; `bench` (real build only) is the
//! `metastore bench` load generator.

/// `mutant!(Name)`: whether the deliberate bug `Name` of [`mutant::Mutant`] is
/// switched on. Only simulation builds have mutants; elsewhere this is `false`.
#[cfg(madsim)]
#[macro_export]
macro_rules! mutant {
    ($m:ident) => {
        $crate::mutant::is($crate::mutant::Mutant::$m)
    };
}

/// `mutant!(Name)`: always `false` outside the simulator.
#[cfg(not(madsim))]
#[macro_export]
macro_rules! mutant {
    ($m:ident) => {
        false
    };
}

/// `buggify!("point")`: whether the fail point fires now (see [`buggify`]); only
/// simulation builds have fail points.
#[cfg(madsim)]
#[macro_export]
macro_rules! buggify {
    ($point:literal) => {
        $crate::buggify::fire($point)
    };
}

/// `buggify!("point")`: always `false` outside the simulator.
#[cfg(not(madsim))]
#[macro_export]
macro_rules! buggify {
    ($point:literal) => {
        false
    };
}

pub mod apply;
pub mod auth;
#[cfg(not(madsim))]
pub mod bench;
#[cfg(madsim)]
pub mod buggify;
pub mod config;
pub mod env;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod lease;
pub mod logging;
pub mod metrics;
#[cfg(madsim)]
pub mod mutant;
pub mod mvcc;
pub mod node;
pub mod proto;
pub mod raft;
pub mod server;
pub mod shutdown;
pub mod snapshot_cmd;
pub mod storage;
pub mod tls;
pub mod watch;
