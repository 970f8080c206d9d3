//! libFuzzer entry for `metastore::fuzzing::h2_authority` (see there for what it checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| metastore::fuzzing::h2_authority(data));
