//! libFuzzer entry for `metastore::fuzzing::peer_message` (see there for what it checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| metastore::fuzzing::peer_message(data));
