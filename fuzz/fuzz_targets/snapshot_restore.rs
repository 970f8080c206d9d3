//! Snapshot files from arbitrary bytes, as `metastore snapshot restore` reads them:
//! the trailer, the bbolt reader and the import refuse or accept, never panic; what
//! is imported passed the store's own checks and survives its snapshot encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metastore::apply::{ApplyLimits, KvState};
use metastore::storage::bbolt_read::read_buckets;
use metastore::storage::etcd_import::{import_etcd_db, split_snapshot_file, ImportOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(db) = split_snapshot_file(data, true) else { return };
    let Ok(buckets) = read_buckets(db) else { return };
    if let Ok(imported) = import_etcd_db(&buckets, ApplyLimits::default(), ImportOptions::default()) {
        let image = imported.state.encode();
        let back = KvState::decode(&image, ApplyLimits::default()).expect("a restored state decodes");
        assert_eq!(back.kv, imported.state.kv);
    }
});
