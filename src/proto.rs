//! Generated protobuf and gRPC code for etcd's v3 API (see `build.rs` and `proto/`).
//!
//! The module names are the protobuf package names, and must stay siblings:
//! generated code refers across packages as `super::mvccpb::KeyValue` and so on.
//! With `--cfg madsim` the services are the madsim-simulated ones; the message
//! types are the same prost structs either way.
//!
//! Main paths:
//! - messages: `etcdserverpb::RangeRequest`, `mvccpb::KeyValue`, `authpb::Permission`, ...
//! - servers: `etcdserverpb::kv_server::{Kv, KvServer}`, `watch_server::{Watch, WatchServer}`,
//!   `lease_server`, `cluster_server`, `maintenance_server`, `auth_server`,
//!   `v3lockpb::lock_server::{Lock, LockServer}`,
//!   `v3electionpb::election_server::{Election, ElectionServer}`
//! - proto3 JSON: every message of these packages is `serde::Serialize + Deserialize`
//!   as etcd's JSON gateway writes it (`build.rs`, pbjson)
//! - clients: `etcdserverpb::kv_client::KvClient`, `watch_client::WatchClient`, ...

#![allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]

/// `mvccpb`: `KeyValue`, `Event`.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
    include!(concat!(env!("OUT_DIR"), "/mvccpb.serde.rs"));
}

/// `authpb`: `UserAddOptions`, `User`, `Permission`, `Role`.
pub mod authpb {
    tonic::include_proto!("authpb");
    include!(concat!(env!("OUT_DIR"), "/authpb.serde.rs"));
}

/// `etcdserverpb`: the KV, Watch, Lease, Cluster, Maintenance and Auth services.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.serde.rs"));
}

/// `v3lockpb`: the Lock service.
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.serde.rs"));
}

/// `v3electionpb`: the Election service.
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.serde.rs"));
}

/// `metastorepeerpb`: MetaStore's own member-to-member raft transport.
pub mod metastorepeerpb {
    tonic::include_proto!("metastorepeerpb");
}
