//! libFuzzer entry for `metastore::fuzzing::snapshot_decode` (see there for what it checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| metastore::fuzzing::snapshot_decode(data));
