//! Response sizes and fragmentation.
//!
//! Sizes are the protobuf encoding of etcd's WatchResponse, computed without encoding:
//! exact for everything the hub knows, with the header's cluster id, member id and
//! raft term counted at a fixed upper bound. The hub budgets streams in these bytes.
//!
//! A watcher created with `fragment = true` may have a response split when it is at
//! least the caller's limit (etcd: `--max-request-bytes` + 512 KiB of gRPC overhead),
//! as etcd's `sendFragments` does: events are packed greedily, each fragment holding
//! at least one event and staying under the limit when it holds more than one; every
//! fragment but the last has `fragment = true`; all keep the header revision. A
//! response of one event, or one below the limit, is never split. Worked example,
//! limit 2 MiB, five events of 500 KB each (observed on etcd 3.4.23):
//!
//! ```text
//! in:   [e1 e2 e3 e4 e5]                       ~2.5 MB
//! out:  [e1 e2 e3 e4] fragment=true            ~2.0 MB (adding e5 would reach 2 MiB)
//!       [e5]          fragment=false
//! ```

use crate::mvcc::{Event, EventType, KeyValue};
use crate::watch::types::WatchResponse;

/// The header fields the hub does not know: cluster and member id (random u64s, so
/// 10-byte varints) and a raft term below 2^35, each with its tag.
const HEADER_UNKNOWN_BYTES: usize = 11 + 11 + 6;

fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn int_field(v: i64) -> usize {
    if v == 0 {
        0
    } else {
        1 + varint_len(v as u64)
    }
}

fn bytes_field(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 + varint_len(len as u64) + len
    }
}

/// A length-delimited field that is present even when empty (a set message).
fn message_field(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn key_value_len(kv: &KeyValue) -> usize {
    bytes_field(kv.key.len())
        + int_field(kv.create_revision)
        + int_field(kv.mod_revision)
        + int_field(kv.version)
        + bytes_field(kv.value.len())
        + int_field(kv.lease)
}

/// Encoded length of one `mvccpb.Event`.
pub fn event_len(e: &Event) -> usize {
    let kind = match e.kind {
        EventType::Put => 0,
        EventType::Delete => 2,
    };
    kind + message_field(key_value_len(&e.kv))
        + e.prev_kv.as_ref().map_or(0, |p| message_field(key_value_len(p)))
}

/// Encoded length of the response without its events.
fn base_len(r: &WatchResponse) -> usize {
    let header = HEADER_UNKNOWN_BYTES + int_field(r.header_revision);
    message_field(header)
        + int_field(r.watch_id)
        + 2 * usize::from(r.created)
        + 2 * usize::from(r.canceled)
        + int_field(r.compact_revision)
        + bytes_field(r.cancel_reason.len())
        + 2 * usize::from(r.fragment)
}

/// Encoded length of a whole `WatchResponse` (header at its upper bound).
pub fn response_len(r: &WatchResponse) -> usize {
    base_len(r) + r.events.iter().map(|e| message_field(event_len(e))).sum::<usize>()
}

/// `resp` as etcd's `sendFragments` would send it with `max_bytes` (see module docs).
pub fn split(resp: WatchResponse, max_bytes: usize) -> Vec<WatchResponse> {
    if resp.events.len() < 2 || response_len(&resp) < max_bytes {
        return vec![resp];
    }
    let mut template = WatchResponse { events: Vec::new(), fragment: true, ..resp.clone() };
    let base = base_len(&template);
    let mut out = Vec::new();
    let mut current: Vec<Event> = Vec::new();
    let mut size = base;
    for event in resp.events {
        let len = message_field(event_len(&event));
        if !current.is_empty() && size + len >= max_bytes {
            out.push(WatchResponse { events: std::mem::take(&mut current), ..template.clone() });
            size = base;
        }
        size += len;
        current.push(event);
    }
    template.fragment = false;
    out.push(WatchResponse { events: current, ..template });
    out
}
