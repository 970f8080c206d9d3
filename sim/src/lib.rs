//! The simulation harness. Everything here runs only under `--cfg madsim` (see
//! `ci/sim`); in a normal build the crate is empty.
//!
//! - [`runner`]: seeds in, one summary line out; a failing seed prints its replay
//!   command and event fingerprint.
//! - [`cluster`]: simulated nodes, each with a [`SimDisk`](metastore::env::sim_disk::SimDisk)
//!   that survives kill/restart.
//! - [`traffic`]: etcd gRPC clients writing through madsim-tonic, recording every op.
//! - [`kv_traffic`]: concurrent clients doing get/put/delete/CAS, recorded as a
//!   [`history`] for the [`linearize`] checker against the etcd [`model`].
//! - [`maintenance`]: an operator's Defragment, Snapshot and NOSPACE alarm episodes
//!   under the nemesis; [`maintenance_check`]: no put lands while NOSPACE stands, and
//!   snapshots are etcd's file holding the state at their revision.
//! - [`validate`]: the checkers (durability and atomicity after crashes).
//! - [`auth_check`]: permissions against an auth model replayed over the admin's
//!   changes (every success permitted, every denial forbidden, where they applied);
//!   [`auth_traffic`]: the authenticated clients and the admin that feed it.

#![cfg(madsim)]
// The harness runs only under madsim, where clocks are virtual and seeded: the
// env-facade ban protects the store's code, not the simulator's.
#![allow(clippy::disallowed_methods)]

pub mod auth_check;
pub mod auth_traffic;
pub mod bitrot;
pub mod cluster;
pub mod history;
pub mod kv_traffic;
pub mod linearize;
pub mod maintenance;
pub mod maintenance_check;
pub mod model;
pub mod runner;
pub mod traffic;
pub mod validate;
pub mod watch_check;
