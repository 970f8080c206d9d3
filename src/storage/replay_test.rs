//! Tests of the torn-tail-vs-corruption rule on raw segment images.

use super::*;
use crate::storage::record::encode_frame;

fn image(n: u64) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    for i in 1..=n {
        starts.push(bytes.len());
        encode_frame(&mut bytes, 1, i, format!("record {i}").as_bytes());
    }
    (bytes, starts)
}

#[test]
fn clean_image_is_clean() {
    let (bytes, _) = image(4);
    let scan = scan_segment(&bytes);
    assert_eq!(scan.records.len(), 4);
    assert_eq!(scan.valid_bytes, bytes.len() as u64);
    assert_eq!(judge(&scan, true), Verdict::Clean);
}

#[test]
fn cut_last_record_is_torn_only_in_the_last_segment() {
    let (bytes, starts) = image(3);
    let cut = &bytes[..bytes.len() - 3];
    let scan = scan_segment(cut);
    assert_eq!(scan.records.len(), 2);
    assert_eq!(judge(&scan, true), Verdict::TornTail { truncate_to: starts[2] as u64 });
    assert!(matches!(judge(&scan, false), Verdict::Corrupt { offset, .. } if offset == starts[2] as u64));
}

#[test]
fn zeroed_tail_is_torn() {
    let (mut bytes, _) = image(2);
    let end = bytes.len() as u64;
    bytes.extend_from_slice(&[0u8; 4096]);
    assert_eq!(judge(&scan_segment(&bytes), true), Verdict::TornTail { truncate_to: end });
}

#[test]
fn bad_crc_followed_by_valid_record_is_corruption() {
    let (mut bytes, starts) = image(4);
    bytes[starts[1] + 20] ^= 0x10;
    let verdict = judge(&scan_segment(&bytes), true);
    let Verdict::Corrupt { offset, reason } = verdict else { panic!("expected corruption, got {verdict:?}") };
    assert_eq!(offset, starts[1] as u64);
    assert!(reason.contains(&format!("valid record follows at byte offset {}", starts[2])), "{reason}");
}

#[test]
fn damaged_length_field_mid_log_is_corruption_not_truncation() {
    let (mut bytes, starts) = image(4);
    bytes[starts[1] + 3] ^= 0x01; // length now points ~16 MiB past the end
    let verdict = judge(&scan_segment(&bytes), true);
    assert!(matches!(verdict, Verdict::Corrupt { offset, .. } if offset == starts[1] as u64), "{verdict:?}");
}

#[test]
fn find_valid_frame_skips_garbage() {
    let (bytes, _) = image(1);
    let mut padded = vec![0x5Au8; 9];
    padded.extend_from_slice(&bytes);
    assert_eq!(find_valid_frame(&padded, 0), Some(9));
    assert_eq!(find_valid_frame(&padded, 10), None);
}

#[test]
fn an_all_zero_header_is_not_a_frame() {
    // find_valid_frame stops at the last non-zero byte on this ground.
    assert!(crate::storage::record::decode_frame(&[0; HEADER_LEN]).is_err());
}

#[test]
fn a_reserved_tail_of_megabytes_is_torn_and_a_frame_before_it_still_counts() {
    let (mut bytes, starts) = image(3);
    // Damage record 2: record 3 after it must still be found though it is followed
    // by 8 MiB of zeros (the search bound is the last non-zero byte, not before).
    bytes[starts[1] + 20] ^= 0x10;
    let end = bytes.len();
    bytes.resize(end + (8 << 20), 0);
    assert_eq!(find_valid_frame(&bytes, starts[1] + 1), Some(starts[2]));
    let verdict = judge(&scan_segment(&bytes), true);
    assert!(matches!(verdict, Verdict::Corrupt { offset, .. } if offset == starts[1] as u64), "{verdict:?}");
    // Undamaged, the zeros are a torn tail.
    let (mut clean, _) = image(3);
    let clean_end = clean.len() as u64;
    clean.resize(clean.len() + (8 << 20), 0);
    assert_eq!(judge(&scan_segment(&clean), true), Verdict::TornTail { truncate_to: clean_end });
    assert_eq!(find_valid_frame(&clean, clean_end as usize + 1), None);
}
