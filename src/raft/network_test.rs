//! [`cut_batch`]: AppendEntries batches cut to the byte budget.

use openraft::entry::RaftEntry;
use openraft::raft::AppendEntriesRequest;

use super::cut_batch;
use crate::apply::Request;
use crate::mvcc::types::PutRequest;
use crate::raft::types::{Entry, LogId, TypeConfig, Vote};

fn put(index: u64, value_bytes: usize) -> Entry {
    let req = PutRequest {
        key: format!("k{index}").into_bytes(),
        value: vec![7; value_bytes],
        lease: 0,
        prev_kv: false,
        ignore_value: false,
        ignore_lease: false,
    };
    Entry::new_normal(LogId::new_term_index(2, index), Request::Put(req))
}

fn request(sizes: &[usize], commit: u64) -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(LogId::new_term_index(2, 10)),
        entries: sizes.iter().enumerate().map(|(i, &s)| put(11 + i as u64, s)).collect(),
        leader_commit: Some(LogId::new_term_index(2, commit)),
    }
}

fn encoded(rpc: &AppendEntriesRequest<TypeConfig>) -> u64 {
    rpc.entries.iter().map(|e| bincode::serialized_size(e).unwrap()).sum()
}

#[test]
fn a_batch_within_the_budget_goes_whole() {
    let (rpc, cut) = cut_batch(request(&[100, 100, 100], 13), 1 << 20);
    assert_eq!(cut, None);
    assert_eq!(rpc.entries.len(), 3);
    assert_eq!(rpc.leader_commit, Some(LogId::new_term_index(2, 13)));
}

#[test]
fn a_batch_past_the_budget_keeps_the_longest_prefix_and_caps_the_commit() {
    let budget = 10_000;
    let (rpc, cut) = cut_batch(request(&[4000, 4000, 4000, 10], 14), budget);
    assert_eq!(rpc.entries.len(), 2, "two 4000-byte entries fit in 10000 bytes, three do not");
    assert!(encoded(&rpc) <= budget as u64);
    assert_eq!(cut, Some(LogId::new_term_index(2, 12)));
    assert_eq!(rpc.leader_commit, Some(LogId::new_term_index(2, 12)), "no commit past what is sent");
    assert_eq!(rpc.prev_log_id, Some(LogId::new_term_index(2, 10)));
}

#[test]
fn a_commit_below_the_cut_is_left_alone() {
    let (rpc, cut) = cut_batch(request(&[4000, 4000, 4000], 11), 5000);
    assert_eq!(cut, Some(LogId::new_term_index(2, 11)));
    assert_eq!(rpc.leader_commit, Some(LogId::new_term_index(2, 11)));
}

#[test]
fn one_entry_larger_than_the_budget_still_goes_alone() {
    let (rpc, cut) = cut_batch(request(&[50_000, 10], 12), 1000);
    assert_eq!(rpc.entries.len(), 1);
    assert_eq!(cut, Some(LogId::new_term_index(2, 11)));
    let (rpc, cut) = cut_batch(request(&[50_000], 11), 1000);
    assert_eq!((rpc.entries.len(), cut), (1, None), "a lone entry is never cut");
}

fn snapshot(bytes: usize) -> crate::raft::state_machine::Snapshot {
    use crate::raft::types::{SnapshotMeta, StoredMembership};
    let meta = SnapshotMeta {
        last_log_id: Some(LogId::new_term_index(2, 40)),
        last_membership: StoredMembership::default(),
    };
    let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    crate::raft::state_machine::Snapshot { meta, snapshot: std::io::Cursor::new(data) }
}

#[test]
fn snapshot_chunks_carry_every_byte_once_in_order() {
    use super::{decode, snapshot_chunks, SNAPSHOT_CHUNK_BYTES};
    for bytes in [0, 1, SNAPSHOT_CHUNK_BYTES - 1, SNAPSHOT_CHUNK_BYTES, 2 * SNAPSHOT_CHUNK_BYTES + 7] {
        let snap = snapshot(bytes);
        let expect = snap.snapshot.get_ref().clone();
        let vote = Vote::new_committed(2, 1);
        let chunks: Vec<_> = snapshot_chunks(&vote, snap, 9).unwrap().collect();
        assert_eq!(chunks.len(), bytes.div_ceil(SNAPSHOT_CHUNK_BYTES).max(1), "{bytes} bytes");
        assert_eq!(decode::<Vote>(&chunks[0].vote).unwrap(), vote);
        assert!(chunks[1..].iter().all(|c| c.vote.is_empty() && c.meta.is_empty()));
        assert!(chunks.iter().all(|c| c.cluster_id == 9 && c.data.len() <= SNAPSHOT_CHUNK_BYTES));
        let done: Vec<bool> = chunks.iter().map(|c| c.done).collect();
        assert_eq!(done.iter().filter(|d| **d).count(), 1);
        assert_eq!(done.last(), Some(&true));
        let joined: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
        assert_eq!(joined, expect);
    }
}
