//! Encoded sizes and etcd's fragmentation.

use crate::mvcc::{Event, EventType, KeyValue};
use crate::watch::fragment::split;
use crate::watch::test_util::*;
use crate::watch::*;

fn put_event(key: &str, value_len: usize, rev: i64) -> Event {
    let kv = KeyValue {
        key: b(key),
        create_revision: rev,
        mod_revision: rev,
        version: 1,
        value: vec![b'x'; value_len],
        lease: 0,
    };
    Event { kind: EventType::Put, kv, prev_kv: None }
}

#[test]
fn event_len_is_the_protobuf_size() {
    // kv: key "k" (1+1+1) create 2 (1+1) mod 2 (1+1) version 1 (1+1) value "xx" (1+1+2)
    // = 13; event: kv field 1+1+13 = 15.
    assert_eq!(event_len(&put_event("k", 2, 2)), 15);
    // A delete adds the type field (2); prev_kv adds its message.
    let del = Event {
        kind: EventType::Delete,
        kv: KeyValue { key: b("k"), mod_revision: 3, ..Default::default() },
        prev_kv: Some(put_event("k", 2, 2).kv),
    };
    // type 2 + kv (1+1+(3+2)) 7 + prev (1+1+13) 15
    assert_eq!(event_len(&del), 24);
    // A 200-byte value needs a 2-byte length.
    assert_eq!(event_len(&put_event("k", 200, 2)), 15 - 2 - 1 + 200 + 2 + 1);
}

#[test]
fn response_len_counts_header_and_events() {
    let empty = WatchResponse { header_revision: 5, ..Default::default() };
    let one = WatchResponse { events: vec![put_event("k", 2, 2)], ..empty.clone() };
    assert_eq!(response_len(&one), response_len(&empty) + 2 + 15);
}

fn response(n: usize, value_len: usize) -> WatchResponse {
    WatchResponse {
        header_revision: 7,
        watch_id: 3,
        events: (0..n).map(|i| put_event(&format!("k{i}"), value_len, 7)).collect(),
        ..Default::default()
    }
}

/// etcd 3.4.23, limit 2 MiB, five events of 500 KB: four, then one.
#[test]
fn split_as_observed_on_etcd() {
    let parts = split(response(5, 500_000), 2 * 1024 * 1024);
    assert_eq!(
        parts.iter().map(|p| (p.events.len(), p.fragment)).collect::<Vec<_>>(),
        [(4, true), (1, false)]
    );
    assert!(parts.iter().all(|p| p.header_revision == 7 && p.watch_id == 3));
}

#[test]
fn split_keeps_everything_in_order_and_under_the_limit() {
    let whole = response(10, 100);
    let parts = split(whole.clone(), 500);
    assert!(parts.len() > 1);
    let events: Vec<Event> = parts.iter().flat_map(|p| p.events.clone()).collect();
    assert_eq!(events, whole.events);
    for p in &parts[..parts.len() - 1] {
        assert!(p.fragment && response_len(p) < 500);
    }
    assert!(!parts[parts.len() - 1].fragment);
}

#[test]
fn no_split_below_the_limit_or_for_one_event() {
    assert_eq!(split(response(3, 10), 10_000).len(), 1);
    let big_one = split(response(1, 10_000), 100);
    assert_eq!((big_one.len(), big_one[0].fragment), (1, false));
}

#[test]
fn take_splits_only_for_watchers_that_asked() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let frag = h.watch(s, WatchCreateRequest { fragment: true, ..range("a", "z") });
    let plain = h.watch(s, range("a", "z"));
    h.take(s);
    let v = "x".repeat(100);
    h.txn((0..6).map(|i| put_op(&format!("k{i}"), &v)).collect());
    let out = h.hub.take(s, 400);
    let frag_parts: Vec<_> = out.iter().filter(|r| r.watch_id == frag).collect();
    assert!(frag_parts.len() > 1 && frag_parts.iter().all(|r| r.header_revision == 2));
    assert_eq!(out.iter().filter(|r| r.watch_id == plain).count(), 1);
}
