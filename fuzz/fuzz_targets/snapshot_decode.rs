//! MVCC snapshots from arbitrary bytes: decoding returns an error or a store,
//! never panics; a decoded store re-encodes and decodes to an equal hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metastore::mvcc::KvStore;

fuzz_target!(|data: &[u8]| {
    if let Ok(store) = KvStore::decode_snapshot(data) {
        let again = KvStore::decode_snapshot(&store.encode_snapshot()).expect("re-encoded snapshot decodes");
        assert_eq!(store.hash(), again.hash());
    }
});
