//! libFuzzer entry for `metastore::fuzzing::config_parse` (see there for what it checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| metastore::fuzzing::config_parse(data));
