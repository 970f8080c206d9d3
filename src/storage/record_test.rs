//! Tests of the frame codec, including the worked example in the module docs.

use super::*;

#[test]
fn worked_example_matches_the_doc_bytes() {
    let mut out = Vec::new();
    encode_frame(&mut out, 1, 5, b"hi");
    let expected: [u8; 19] =
        [0x02, 0x00, 0x00, 0x00, 0x0b, 0xe1, 0x67, 0xd1, 0x01, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x69];
    assert_eq!(out, expected);
}

#[test]
fn round_trip_including_empty_payload() {
    let mut out = Vec::new();
    encode_frame(&mut out, 7, u64::MAX, b"");
    encode_frame(&mut out, 0, 0, &[0xAB; 300]);
    let first = decode_frame(&out).unwrap();
    assert_eq!(first.to_record(), Record { kind: 7, index: u64::MAX, payload: vec![] });
    let second = decode_frame(&out[first.frame_len()..]).unwrap();
    assert_eq!((second.kind, second.index, second.payload.len()), (0, 0, 300));
    assert_eq!(first.frame_len() + second.frame_len(), out.len());
}

#[test]
fn short_header_and_past_end_are_reported() {
    let mut out = Vec::new();
    encode_frame(&mut out, 1, 1, b"payload");
    assert_eq!(decode_frame(&out[..10]), Err(FrameError::ShortHeader { have: 10 }));
    let cut = &out[..out.len() - 1];
    assert_eq!(decode_frame(cut), Err(FrameError::PastEnd { frame_len: out.len() as u64, have: cut.len() }));
}

#[test]
fn every_single_bit_flip_is_detected() {
    let mut frame = Vec::new();
    encode_frame(&mut frame, 3, 42, b"some payload bytes");
    for byte in 0..frame.len() {
        for bit in 0..8 {
            let mut damaged = frame.clone();
            damaged[byte] ^= 1 << bit;
            assert!(decode_frame(&damaged).is_err(), "flip of bit {bit} in byte {byte} went unnoticed");
        }
    }
}

#[test]
fn zeroes_and_huge_lengths_never_decode() {
    assert!(matches!(decode_frame(&[0u8; 64]), Err(FrameError::CrcMismatch { .. })));
    let mut huge = vec![0xFFu8; 64];
    huge[..4].copy_from_slice(&(MAX_PAYLOAD_BYTES + 1).to_le_bytes());
    assert_eq!(decode_frame(&huge), Err(FrameError::LengthTooLarge { payload_len: MAX_PAYLOAD_BYTES + 1 }));
}
