//! Flags, refusals, and a restored data dir that raft starts on (in-process, on
//! SimDisk): the restored state is served and the revision continues.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::env::sim_disk::{FaultConfig, SimDisk};
use crate::mvcc::RangeRequest;

const ETCD_SNAPSHOT: &[u8] = include_bytes!("storage/testdata/etcd-3.4.23.snapshot");

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn parsed(s: &str) -> RestoreArgs {
    match parse(&argv(s)).unwrap() {
        Parsed::Restore(a) => *a,
        Parsed::Help => panic!("help"),
    }
}

#[test]
fn flags_as_etcdctl_takes_them() {
    assert_eq!(parse(&argv("--help")), Ok(Parsed::Help));
    assert_eq!(parse(&argv("restore x --help")), Ok(Parsed::Help));
    let a = parsed("restore snap.db");
    assert_eq!((a.cfg.name.as_str(), a.cfg.data_dir.as_str()), ("default", "default.etcd"));
    assert_eq!(a.cfg.initial_cluster_token, "etcd-cluster");
    assert_eq!(a.cfg.initial_cluster, vec![("default".to_string(), "http://localhost:2380".to_string())]);
    let a = parsed(
        "restore s --name m2 --data-dir=/d --initial-cluster m1=http://a:1,m2=http://b:2 \
         --initial-cluster-token t --initial-advertise-peer-urls http://b:2 --skip-hash-check \
         --bump-revision 1000 --mark-compacted",
    );
    assert_eq!((a.file.as_str(), a.cfg.name.as_str(), a.cfg.data_dir.as_str()), ("s", "m2", "/d"));
    assert_eq!(a.cfg.initial_cluster.len(), 2);
    assert_eq!(a.cfg.initial_advertise_peer_urls, vec!["http://b:2".to_string()]);
    assert!(a.skip_hash_check);
    assert_eq!(a.opts, ImportOptions { bump_revision: 1000, mark_compacted: true });
    assert_eq!(parsed("restore s --wal-dir /w").cfg.wal_dir, "/w");
    for (bad, want) in [
        ("restore", "needs a snapshot file"),
        ("restore a b", "one snapshot file"),
        ("restore a --bump-revision 5", "--mark-compacted"),
        ("restore a --mark-compacted", "--mark-compacted"),
        ("restore a --bump-revision -5 --mark-compacted", "not a count"),
        ("restore a --listen-client-urls x", "unknown flag"),
        ("restore a --name", "needs a value"),
        ("save a", "unknown snapshot command"),
    ] {
        let err = parse(&argv(bad)).unwrap_err();
        assert!(err.contains(want), "{bad}: {err}");
    }
}

fn disk_with(file: &[u8]) -> SimDisk {
    let disk = SimDisk::new(1, FaultConfig::none());
    disk.create_dir_all(Path::new("/in")).unwrap();
    disk.write_atomic(Path::new("/in/snap.db"), file).unwrap();
    disk
}

const ONE_MEMBER: &str =
    "restore /in/snap.db --name m1 --data-dir /out --initial-cluster m1=http://127.0.0.1:1 \
     --initial-advertise-peer-urls http://127.0.0.1:1";

#[test]
fn refusals_name_what_is_wrong() {
    let disk = disk_with(ETCD_SNAPSHOT);
    disk.create_dir_all(Path::new("/out")).unwrap();
    assert_eq!(restore(&parsed(ONE_MEMBER), &disk), Err("data-dir \"/out\" exists".to_string()));

    let mut flipped = ETCD_SNAPSHOT.to_vec();
    flipped[9000] ^= 4;
    let truncated = &ETCD_SNAPSHOT[..ETCD_SNAPSHOT.len() - 4096];
    let mut foreign = vec![7u8; 8192];
    foreign.extend_from_slice(&[0u8; 32]);
    let mut bad_magic = ETCD_SNAPSHOT[..ETCD_SNAPSHOT.len() - 32].to_vec();
    bad_magic[16] ^= 1;
    bad_magic[4096 + 16] ^= 1;
    for (file, skip, want) in [
        (&flipped[..], "", "sha256"),
        (truncated, "", "corrupt or truncated"),
        (truncated, " --skip-hash-check", "truncated"),
        (&foreign[..], " --skip-hash-check", "not a bbolt database"),
        (&bad_magic[..], " --skip-hash-check", "not a bbolt database"),
        (&ETCD_SNAPSHOT[..100], "", "missing hash"),
    ] {
        let disk = disk_with(file);
        let err = restore(&parsed(&format!("{ONE_MEMBER}{skip}")), &disk).unwrap_err();
        assert!(err.contains(want) && err.contains("/in/snap.db"), "want {want:?}: {err}");
        assert!(!disk.exists(Path::new("/out")), "nothing written");
    }
    let err = restore(&parsed(&ONE_MEMBER.replace("--name m1", "--name m9")), &disk_with(ETCD_SNAPSHOT));
    let err = err.unwrap_err();
    assert!(err.contains("couldn't find local name \"m9\""), "{err}");

    // --wal-dir: refused if it exists (as etcdctl), else made, empty.
    let disk = disk_with(ETCD_SNAPSHOT);
    disk.create_dir_all(Path::new("/w")).unwrap();
    let with_wal_dir = parsed(&format!("{ONE_MEMBER} --wal-dir /w"));
    assert_eq!(restore(&with_wal_dir, &disk), Err("wal-dir \"/w\" exists".to_string()));
    assert!(!disk.exists(Path::new("/out")), "nothing written");
    let disk = disk_with(ETCD_SNAPSHOT);
    restore(&with_wal_dir, &disk).unwrap();
    assert_eq!(disk.list_dir(Path::new("/w")).unwrap(), Vec::<String>::new());
    assert!(!disk.exists(Path::new("/out/member/wal")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_starts_on_a_restored_data_dir_and_the_revision_continues() {
    let disk = Arc::new(disk_with(ETCD_SNAPSHOT));
    let args = parsed(ONE_MEMBER);
    let summary = restore(&args, disk.as_ref()).unwrap();
    assert!(summary.contains("revision 6"), "{summary}");
    let identity = crate::node::restore_data_dir(
        &args.cfg,
        disk.as_ref(),
        &crate::apply::KvState::new(ApplyLimits::default()),
    );
    assert_eq!(identity.unwrap_err(), "data-dir \"/out\" exists");

    let identity_bytes = disk.read(Path::new("/out/member/identity")).unwrap();
    assert!(!identity_bytes.is_empty());
    let member_id = crate::ids::member_id(&["http://127.0.0.1:1".to_string()], "etcd-cluster");
    let cfg = crate::raft::RaftConfig {
        member_id,
        cluster_id: crate::ids::cluster_id(&[member_id]),
        strict_reconfig_check: true,
        initial_members: Default::default(),
        bootstrap: false,
        heartbeat_interval_ms: 20,
        election_timeout_ms: 100,
        snapshot_count: 10_000,
        limits: ApplyLimits::default(),
        clock: crate::env::Clock::new(),
        peer_tls: Default::default(),
        wal_dir: PathBuf::from("/out/member/wal"),
        max_request_bytes: 1536 * 1024,
        quota_backend_bytes: 2 << 30,
    };
    let node = crate::raft::RaftNode::start(disk.clone(), &PathBuf::from("/out/member"), cfg).await.unwrap();
    assert_eq!(node.wait_for_leader(Duration::from_secs(10)).await.unwrap(), member_id);
    {
        let st = node.state().read();
        assert_eq!(st.kv.current_revision(), 6);
        let foo = st.kv.range(&RangeRequest { key: b"foo".to_vec(), ..Default::default() }).unwrap();
        assert_eq!(foo.kvs[0].value, b"2");
    }
    let put = crate::mvcc::PutRequest { key: b"new".to_vec(), value: b"v".to_vec(), ..Default::default() };
    let applied = node.propose(crate::apply::Request::Put(put)).await.unwrap();
    assert_eq!(applied.revision, 7, "the revision continues");
    let members = node.state().membership();
    assert_eq!(members.membership().voter_ids().collect::<Vec<_>>(), vec![member_id]);
    node.shutdown().await;
}
