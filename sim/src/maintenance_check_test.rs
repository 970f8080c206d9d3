//! The Maintenance checkers on hand-made histories and on snapshot files the store's
//! own encoder wrote.

use metastore::apply::{ApplyLimits, KvState, Request as Write};
use metastore::mvcc::{DeleteRangeRequest, PutRequest};
use metastore::storage::etcd_db::EtcdDb;

use super::*;
use crate::history::{Outcome, Response};

fn put_op(key: &str, revision: i64) -> Op {
    Op {
        client: 1,
        invoke_ns: 0,
        return_ns: 1,
        request: Request::Put { key: key.into(), value: b"v".to_vec() },
        outcome: Outcome::Ok(Response { revision, ..Default::default() }),
    }
}

fn event(key: &str, revision: i64, put: bool) -> SeenEvent {
    SeenEvent { revision, key: key.into(), value: put.then(|| b"v".to_vec()), prev_value: None, response: 1 }
}

#[test]
fn a_put_inside_a_span_is_caught_one_outside_is_not() {
    let spans = [AlarmSpan { alarm_id: 7, raised_at: 40, standing_at: 43 }];
    let fine = [put_op("a", 40), put_op("c", 44)];
    assert!(check_no_puts_under_alarm(&spans, &fine, &[event("b", 41, false)]).is_ok());
    let bad = [put_op("a", 40), put_op("c", 42)];
    let err = check_no_puts_under_alarm(&spans, &bad, &[]).unwrap_err();
    assert!(err.contains("nospace refuses puts") && err.contains("revision 42"), "{err}");
    // A put the client never heard back about, seen by a watcher.
    let err = check_no_puts_under_alarm(&spans, &fine, &[event("x", 43, true)]).unwrap_err();
    assert!(err.contains("watcher saw x put at revision 43"), "{err}");
    // A failed compare owns no revision.
    let cas = Op {
        request: Request::Cas {
            key: b"a".to_vec(),
            compare: crate::history::Compare::ModRevision(1),
            value: vec![],
        },
        outcome: Outcome::Ok(Response { revision: 42, succeeded: false, ..Default::default() }),
        ..put_op("a", 42)
    };
    assert!(check_no_puts_under_alarm(&spans, &[cas], &[]).is_ok());
}

/// A state's snapshot stream as the server sends it (the server's own message
/// function over the store's own encoder).
fn stream_of(state: &KvState) -> Vec<SnapshotMessage> {
    use metastore::server::snapshot::{snapshot_messages, SnapshotImage, SNAPSHOT_CHUNK_BYTES};
    use tokio_stream::StreamExt;
    let db = EtcdDb::of(state, 9, "3.5.0");
    let plan = db.plan().unwrap();
    let mut file = Vec::new();
    db.write(&plan, &mut |bytes| file.extend_from_slice(bytes)).unwrap();
    let image = SnapshotImage {
        chunks: file.chunks(SNAPSHOT_CHUNK_BYTES).map(|c| c.to_vec()).collect(),
        size_bytes: file.len() as u64,
        revision: state.kv.current_revision(),
        consistent_index: 9,
    };
    let messages = madsim::runtime::Runtime::new()
        .block_on(async move { snapshot_messages(image, None).collect::<Vec<_>>().await });
    messages.into_iter().map(|m| m.unwrap()).map(|m| (m.remaining_bytes, m.blob)).collect()
}

/// `a` at revision 4 is all that is live at revision 7; a 40 KB value put and deleted
/// on the way makes the file span several messages.
fn sample() -> KvState {
    let mut st = KvState::new(ApplyLimits::default());
    let big = "x".repeat(40_000);
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3"), ("big", big.as_str())] {
        st.apply(&Write::Put(PutRequest { key: k.into(), value: v.into(), ..Default::default() }))
            .result
            .unwrap();
    }
    for k in ["big", "b"] {
        let del = DeleteRangeRequest { key: k.into(), ..Default::default() };
        st.apply(&Write::DeleteRange(del)).result.unwrap();
    }
    st
}

fn seen(key: &str, revision: i64, value: Option<&str>) -> SeenEvent {
    SeenEvent { value: value.map(|v| v.as_bytes().to_vec()), ..event(key, revision, false) }
}

#[test]
fn a_snapshot_reads_back_as_the_watched_state() {
    let st = sample();
    let stream = stream_of(&st);
    assert!(stream.len() >= 3, "several data messages and the digest: {}", stream.len());
    let snap = decode_snapshot(0, 7, &stream).unwrap();
    assert_eq!(snap.kvs, vec![(b"a".to_vec(), b"3".to_vec(), 4)]);
    let big = "x".repeat(40_000);
    let watched = [
        seen("a", 2, Some("1")),
        seen("b", 3, Some("2")),
        seen("a", 4, Some("3")),
        seen("big", 5, Some(&big)),
        seen("big", 6, None),
        seen("b", 7, None),
        seen("c", 8, Some("after")),
    ];
    check_snapshot_against_watch(&snap, &watched).unwrap();
    let err = check_snapshot_against_watch(&snap, &watched[..5]).unwrap_err();
    assert!(err.contains("holds 1 keys, the watched history 2"), "{err}");
    let mut other = watched.clone();
    other[2].value = Some(b"4".to_vec());
    let err = check_snapshot_against_watch(&snap, &other).unwrap_err();
    assert!(err.contains("watched a=4@4, snapshot a=3@4"), "{err}");
}

#[test]
fn broken_streams_and_files_are_refused_by_name() {
    let st = sample();
    let good = stream_of(&st);
    assert!(decode_snapshot(0, 6, &good).unwrap_err().contains("its header says 6"));
    let mut flipped = good.clone();
    flipped[0].1[100] ^= 1;
    assert!(decode_snapshot(0, 7, &flipped).unwrap_err().contains("sha256"));
    let no_trailer = &good[..good.len() - 1];
    assert!(decode_snapshot(0, 7, no_trailer).unwrap_err().contains("snapshot stream"));
    let mut miscounted = good.clone();
    miscounted[0].0 += 1;
    assert!(decode_snapshot(0, 7, &miscounted).unwrap_err().contains("snapshot stream"));
    assert!(decode_snapshot(0, 7, &[]).is_err());
}
