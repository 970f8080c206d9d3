use futures::StreamExt;

use super::*;

fn image_of(file: &[u8]) -> SnapshotImage {
    let mut chunks = Chunks::new(file.len() as u64);
    // Pushed in uneven pieces, as pages and overflowing nodes come.
    for piece in file.chunks(4096 * 3 + 1) {
        chunks.push(piece);
    }
    SnapshotImage { chunks: chunks.finish(), size_bytes: file.len() as u64, revision: 4, consistent_index: 9 }
}

fn messages(file: &[u8]) -> Vec<SnapshotResponse> {
    futures::executor::block_on(snapshot_messages(image_of(file), None).map(|m| m.unwrap()).collect())
}

#[test]
fn chunks_of_32_kib_count_down_then_the_sha256() {
    let file: Vec<u8> = (0..5 * 4096 * 8 + 4096).map(|i| (i % 253) as u8).collect();
    let msgs = messages(&file);
    assert_eq!(msgs.len(), 6 + 1);
    let mut sent = 0u64;
    for m in &msgs[..6] {
        assert!(m.blob.len() <= SNAPSHOT_CHUNK_BYTES);
        sent += m.blob.len() as u64;
        assert_eq!(m.remaining_bytes, file.len() as u64 - sent);
    }
    assert_eq!(msgs[5].blob.len(), 4096);
    let joined: Vec<u8> = msgs[..6].iter().flat_map(|m| m.blob.clone()).collect();
    assert_eq!(joined, file);
    let last = &msgs[6];
    assert_eq!(last.remaining_bytes, 0);
    assert_eq!(last.blob, Sha256::digest(&file).to_vec());
    // What etcdctl checks of the saved file: 32 bytes more than a multiple of 512.
    assert_eq!((file.len() + last.blob.len()) % 512, 32);
}

#[test]
fn an_exact_multiple_of_the_chunk_size_ends_with_remaining_zero_then_the_sha() {
    let file = vec![7u8; 2 * SNAPSHOT_CHUNK_BYTES];
    let msgs = messages(&file);
    let remaining: Vec<u64> = msgs.iter().map(|m| m.remaining_bytes).collect();
    assert_eq!(remaining, [SNAPSHOT_CHUNK_BYTES as u64, 0, 0]);
    assert_eq!(msgs[2].blob.len(), 32);
}

#[test]
fn sha256_of_nothing_is_the_known_digest() {
    let msgs = messages(&[]);
    assert_eq!(msgs.len(), 1);
    let hex: String = msgs[0].blob.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
