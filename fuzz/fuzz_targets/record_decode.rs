//! WAL frames from arbitrary bytes: decoding never panics, and whatever decodes
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metastore::storage::record::{decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_frame(data) {
        let mut out = Vec::new();
        encode_frame(&mut out, frame.kind, frame.index, frame.payload);
        assert_eq!(&data[..out.len()], &out[..]);
    }
});
