//! gRPC server metrics as go-grpc-prometheus (which etcd uses) names and labels them:
//! `grpc_server_started_total`, `grpc_server_handled_total`,
//! `grpc_server_msg_received_total`, `grpc_server_msg_sent_total` and, with
//! `--metrics extensive`, `grpc_server_handling_seconds`; plus etcd's own
//! `etcd_network_client_grpc_{sent,received}_bytes_total`.
//!
//! Every method the client port serves has a fixed slot in [`METHODS`] (sorted by
//! path, found by binary search), with one counter per gRPC code: recording is a
//! lookup and relaxed `fetch_add`s, never a lock or a label-set hash. As
//! go-grpc-prometheus pre-registers every method of the server, every slot is
//! rendered, zeros included. Calls to paths outside the table (they can only get
//! Unimplemented) count in the byte totals only.
//!
//! Messages are counted from the HTTP/2 data itself ([`FrameCounter`]): a gRPC
//! message is a 5-byte prefix (compressed flag, big-endian length) and the payload,
//! and may be split across data frames in any way:
//!
//! ```text
//! frame 1: [0][00 00 00 07][p a y]     → a message begins: msgs += 1, bytes += 3
//! frame 2: [l o a d][0][00 00]         → bytes += 4 (payload), the next prefix half read
//! frame 3: [00 02][h i]                → the second message: msgs += 1, bytes += 2
//! ```
//!
//! The byte totals count payload bytes (the encoded protobuf message), as etcd's gRPC
//! codec counts them, not the prefixes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::histogram::Histogram;

/// go-grpc-prometheus' `grpc_type` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrpcType {
    Unary,
    ClientStream,
    ServerStream,
    BidiStream,
}

impl GrpcType {
    pub fn label(self) -> &'static str {
        match self {
            GrpcType::Unary => "unary",
            GrpcType::ClientStream => "client_stream",
            GrpcType::ServerStream => "server_stream",
            GrpcType::BidiStream => "bidi_stream",
        }
    }
}

/// One method of the client port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method {
    /// `grpc_service`: the proto package and service, e.g. `etcdserverpb.KV`.
    pub service: &'static str,
    /// `grpc_method`, e.g. `Range`.
    pub name: &'static str,
    /// The HTTP/2 `:path`, `/etcdserverpb.KV/Range`.
    pub path: &'static str,
    pub kind: GrpcType,
}

macro_rules! methods {
    ($($service:literal $name:literal $kind:ident,)*) => {
        &[$(Method {
            service: $service,
            name: $name,
            path: concat!("/", $service, "/", $name),
            kind: GrpcType::$kind,
        },)*]
    };
}

/// Every method of `proto/` served on the client port, sorted by path (byte order;
/// a test checks both the order and that it matches the .proto files).
pub const METHODS: &[Method] = methods![
    "etcdserverpb.Auth" "AuthDisable" Unary,
    "etcdserverpb.Auth" "AuthEnable" Unary,
    "etcdserverpb.Auth" "AuthStatus" Unary,
    "etcdserverpb.Auth" "Authenticate" Unary,
    "etcdserverpb.Auth" "RoleAdd" Unary,
    "etcdserverpb.Auth" "RoleDelete" Unary,
    "etcdserverpb.Auth" "RoleGet" Unary,
    "etcdserverpb.Auth" "RoleGrantPermission" Unary,
    "etcdserverpb.Auth" "RoleList" Unary,
    "etcdserverpb.Auth" "RoleRevokePermission" Unary,
    "etcdserverpb.Auth" "UserAdd" Unary,
    "etcdserverpb.Auth" "UserChangePassword" Unary,
    "etcdserverpb.Auth" "UserDelete" Unary,
    "etcdserverpb.Auth" "UserGet" Unary,
    "etcdserverpb.Auth" "UserGrantRole" Unary,
    "etcdserverpb.Auth" "UserList" Unary,
    "etcdserverpb.Auth" "UserRevokeRole" Unary,
    "etcdserverpb.Cluster" "MemberAdd" Unary,
    "etcdserverpb.Cluster" "MemberList" Unary,
    "etcdserverpb.Cluster" "MemberPromote" Unary,
    "etcdserverpb.Cluster" "MemberRemove" Unary,
    "etcdserverpb.Cluster" "MemberUpdate" Unary,
    "etcdserverpb.KV" "Compact" Unary,
    "etcdserverpb.KV" "DeleteRange" Unary,
    "etcdserverpb.KV" "Put" Unary,
    "etcdserverpb.KV" "Range" Unary,
    "etcdserverpb.KV" "Txn" Unary,
    "etcdserverpb.Lease" "LeaseGrant" Unary,
    "etcdserverpb.Lease" "LeaseKeepAlive" BidiStream,
    "etcdserverpb.Lease" "LeaseLeases" Unary,
    "etcdserverpb.Lease" "LeaseRevoke" Unary,
    "etcdserverpb.Lease" "LeaseTimeToLive" Unary,
    "etcdserverpb.Maintenance" "Alarm" Unary,
    "etcdserverpb.Maintenance" "Defragment" Unary,
    "etcdserverpb.Maintenance" "Downgrade" Unary,
    "etcdserverpb.Maintenance" "Hash" Unary,
    "etcdserverpb.Maintenance" "HashKV" Unary,
    "etcdserverpb.Maintenance" "MoveLeader" Unary,
    "etcdserverpb.Maintenance" "Snapshot" ServerStream,
    "etcdserverpb.Maintenance" "Status" Unary,
    "etcdserverpb.Watch" "Watch" BidiStream,
    "v3electionpb.Election" "Campaign" Unary,
    "v3electionpb.Election" "Leader" Unary,
    "v3electionpb.Election" "Observe" ServerStream,
    "v3electionpb.Election" "Proclaim" Unary,
    "v3electionpb.Election" "Resign" Unary,
    "v3lockpb.Lock" "Lock" Unary,
    "v3lockpb.Lock" "Unlock" Unary,
];

/// The slot of the method at HTTP/2 path `path`, if the client port serves it.
pub fn method_index(path: &str) -> Option<usize> {
    METHODS.binary_search_by(|m| m.path.cmp(path)).ok()
}

/// gRPC status codes by number, named as Go's `codes.Code.String()` writes them
/// (the `grpc_code` label).
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];
pub const CODE_OK: usize = 0;
pub const CODE_CANCELED: usize = 1;
pub const CODE_UNKNOWN: usize = 2;

/// The code a `grpc-status` header value names (an unknown number is Unknown, as
/// gRPC maps it).
pub fn code_of(grpc_status: &[u8]) -> usize {
    std::str::from_utf8(grpc_status)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|c| *c < CODE_NAMES.len())
        .unwrap_or(CODE_UNKNOWN)
}

/// go-grpc-prometheus' default buckets for `grpc_server_handling_seconds`.
pub const HANDLING_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The counters of one method.
#[derive(Debug)]
pub struct MethodCounters {
    pub started: AtomicU64,
    pub msg_received: AtomicU64,
    pub msg_sent: AtomicU64,
    /// By gRPC code number.
    pub handled: [AtomicU64; CODE_NAMES.len()],
    /// From the call's start to its status (`--metrics extensive` only).
    pub handling: Histogram<{ HANDLING_BUCKETS.len() }>,
}

impl MethodCounters {
    const fn new() -> Self {
        MethodCounters {
            started: AtomicU64::new(0),
            msg_received: AtomicU64::new(0),
            msg_sent: AtomicU64::new(0),
            handled: [const { AtomicU64::new(0) }; CODE_NAMES.len()],
            handling: Histogram::new(HANDLING_BUCKETS),
        }
    }
}

/// One slot per entry of [`METHODS`].
pub static CALLS: [MethodCounters; METHODS.len()] = [const { MethodCounters::new() }; METHODS.len()];
pub static SENT_BYTES: AtomicU64 = AtomicU64::new(0);
pub static RECEIVED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Which way a body's messages go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the client (the request body).
    Received,
    /// To the client (the response body).
    Sent,
}

/// A call to `method` began (its request headers arrived).
pub fn started(method: usize) {
    CALLS[method].started.fetch_add(1, Ordering::Relaxed);
}

/// `messages` messages began and `payload_bytes` payload bytes passed, `direction`.
pub fn transferred(direction: Direction, method: Option<usize>, messages: u64, payload_bytes: u64) {
    let (bytes, msgs) = match direction {
        Direction::Received => (&RECEIVED_BYTES, method.map(|m| &CALLS[m].msg_received)),
        Direction::Sent => (&SENT_BYTES, method.map(|m| &CALLS[m].msg_sent)),
    };
    if payload_bytes > 0 {
        bytes.fetch_add(payload_bytes, Ordering::Relaxed);
    }
    if let (Some(counter), true) = (msgs, messages > 0) {
        counter.fetch_add(messages, Ordering::Relaxed);
    }
}

/// A call to `method` ended with gRPC code `code` after `elapsed` (timed only with
/// `--metrics extensive`).
pub fn handled(method: usize, code: usize, elapsed: Option<Duration>) {
    let calls = &CALLS[method];
    calls.handled[code.min(CODE_NAMES.len() - 1)].fetch_add(1, Ordering::Relaxed);
    if let Some(elapsed) = elapsed {
        calls.handling.observe(elapsed);
    }
}

/// Counts the gRPC messages in a stream of HTTP/2 data chunks (see the module
/// header). Holds the part of a 5-byte message prefix read so far and how much of
/// the current payload is still to come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounter {
    /// Prefix bytes read of the next message, 0..5.
    prefix_read: u8,
    /// The length field, as far as read.
    length: u32,
    /// Payload bytes of the current message still to come.
    payload_left: u64,
}

/// What one chunk held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    /// Messages whose prefix completed in this chunk.
    pub messages: u64,
    /// Payload bytes in this chunk (prefix bytes excluded).
    pub payload_bytes: u64,
}

impl FrameCounter {
    pub fn feed(&mut self, chunk: &[u8]) -> Counted {
        let mut out = Counted::default();
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(rest.len() as u64);
                self.payload_left -= n;
                out.payload_bytes += n;
                rest = &rest[n as usize..];
                continue;
            }
            // Byte 0 of the prefix is the compressed flag; 1..5 the length.
            if self.prefix_read > 0 {
                self.length = (self.length << 8) | u32::from(rest[0]);
            }
            rest = &rest[1..];
            self.prefix_read += 1;
            if self.prefix_read == 5 {
                out.messages += 1;
                self.payload_left = u64::from(self.length);
                (self.prefix_read, self.length) = (0, 0);
            }
        }
        out
    }
}
