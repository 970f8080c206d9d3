//! `metastore snapshot restore FILE [flags]`: a snapshot file (`etcdctl snapshot
//! save` from etcd 3.4 or from MetaStore) into a new member's data dir, with the flags
//! of `etcdctl snapshot restore` / `etcdutl snapshot restore`:
//!
//! ```text
//! 1. read FILE; check and cut off its sha256 trailer   storage::etcd_import::split_snapshot_file
//! 2. read the bbolt database, bounds-checked           storage::bbolt_read::read_buckets
//! 3. its buckets into the state (+ revision bump)      storage::etcd_import::import_etcd_db
//! 4. the data dir: snapshot at raft (1, 1) with the    node::restore_data_dir
//!    --initial-cluster membership, and the identity
//! ```
//!
//! Everything is checked before anything is written, and an existing data dir is
//! never touched. Exit status: 0 restored, 1 refused (the reason on stderr), 2 bad
//! flags.

use std::path::Path;

use crate::apply::ApplyLimits;
use crate::config;
use crate::env::fs_disk::FsDisk;
use crate::env::Disk;
use crate::storage::bbolt_read::read_buckets;
use crate::storage::etcd_import::{import_etcd_db, split_snapshot_file, ImportOptions};

pub const HELP: &str = "\
usage: metastore snapshot restore <filename> [flags]

Restores a snapshot file (etcdctl snapshot save, from etcd 3.4 or MetaStore) into the
data dir of one member of a new cluster whose members are --initial-cluster. Restore
every member from the same file with its own --name, then start each with the same
--name, --initial-cluster and --initial-cluster-token.

flags:
  --data-dir DIR                      the new data dir (default <name>.etcd); must not exist
  --wal-dir DIR                       a dedicated WAL dir (default <data-dir>/member/wal); must
                                      not exist; start the member with the same --wal-dir
  --name NAME                         this member's name (default \"default\")
  --initial-cluster NAME=URL,...      the new cluster (default default=http://localhost:2380)
  --initial-cluster-token TOKEN       the new cluster's token (default etcd-cluster)
  --initial-advertise-peer-urls URLS  this member's peer URLs (default http://localhost:2380)
  --skip-hash-check                   accept a file without (or with a wrong) sha256 trailer
  --bump-revision N                   add N to the revision (clients never see it go back)
  --mark-compacted                    compact at the bumped revision (required with --bump-revision)
  -h, --help                          this text
";

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreArgs {
    pub file: String,
    pub cfg: config::Config,
    pub skip_hash_check: bool,
    pub opts: ImportOptions,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Help,
    Restore(Box<RestoreArgs>),
}

const CLUSTER_FLAGS: [&str; 6] = [
    "data-dir",
    "wal-dir",
    "name",
    "initial-cluster",
    "initial-cluster-token",
    "initial-advertise-peer-urls",
];

/// `argv` after `snapshot`.
pub fn parse(argv: &[String]) -> Result<Parsed, String> {
    match argv.first().map(String::as_str) {
        Some("restore") => {}
        Some("-h" | "--help" | "help") | None => return Ok(Parsed::Help),
        Some(other) => return Err(format!("unknown snapshot command {other:?} (only \"restore\")")),
    }
    let (mut file, mut cluster_args) = (None, Vec::new());
    let (mut skip_hash_check, mut opts) = (false, ImportOptions::default());
    let mut i = 1;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            if file.replace(arg.clone()).is_some() {
                return Err(format!("one snapshot file only (got {arg:?} too)"));
            }
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        match name {
            "h" | "help" => return Ok(Parsed::Help),
            "skip-hash-check" => skip_hash_check = parse_bool(name, inline.as_deref())?,
            "mark-compacted" => opts.mark_compacted = parse_bool(name, inline.as_deref())?,
            "bump-revision"
            | "data-dir"
            | "wal-dir"
            | "name"
            | "initial-cluster"
            | "initial-cluster-token"
            | "initial-advertise-peer-urls" => {
                let value = match inline {
                    Some(v) => v,
                    None => argv
                        .get(i)
                        .cloned()
                        .inspect(|_| i += 1)
                        .ok_or(format!("flag --{name} needs a value"))?,
                };
                if name == "bump-revision" {
                    opts.bump_revision = value
                        .parse::<u32>()
                        .map(i64::from)
                        .map_err(|_| format!("--bump-revision {value:?}: not a count"))?;
                } else {
                    cluster_args.push(format!("--{name}={value}"));
                }
            }
            other => return Err(format!("unknown flag --{other}")),
        }
    }
    let file = file.ok_or("snapshot restore needs a snapshot file")?;
    if (opts.bump_revision > 0) != opts.mark_compacted {
        return Err("--mark-compacted is required with --bump-revision > 0, and allowed only with it".into());
    }
    debug_assert!(cluster_args
        .iter()
        .all(|a| CLUSTER_FLAGS.iter().any(|f| a.starts_with(&format!("--{f}=")))));
    let cfg = config::parse(&cluster_args, &|_| None)?;
    Ok(Parsed::Restore(Box::new(RestoreArgs { file, cfg, skip_hash_check, opts })))
}

fn parse_bool(flag: &str, v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("true" | "1" | "t") => Ok(true),
        Some("false" | "0" | "f") => Ok(false),
        Some(other) => Err(format!("--{flag}={other}: not a boolean")),
    }
}

/// Steps 1-4 of the module doc; the summary line, or why not.
pub fn restore(args: &RestoreArgs, disk: &dyn Disk) -> Result<String, String> {
    if disk.exists(Path::new(&args.cfg.data_dir)) {
        return Err(format!("data-dir {:?} exists", args.cfg.data_dir));
    }
    if !args.cfg.wal_dir.is_empty() && disk.exists(Path::new(&args.cfg.wal_dir)) {
        return Err(format!("wal-dir {:?} exists", args.cfg.wal_dir));
    }
    let bytes = disk.read(Path::new(&args.file)).map_err(|e| format!("read {}: {e}", args.file))?;
    let db = split_snapshot_file(&bytes, args.skip_hash_check).map_err(|e| format!("{}: {e}", args.file))?;
    let buckets = read_buckets(db).map_err(|e| format!("{}: {e}", args.file))?;
    let limits = ApplyLimits { max_txn_ops: args.cfg.max_txn_ops };
    let imported = import_etcd_db(&buckets, limits, args.opts).map_err(|e| format!("{}: {e}", args.file))?;
    drop(buckets);
    drop(bytes);
    for w in &imported.warnings {
        eprintln!("metastore snapshot restore: warning: {w}");
    }
    let identity = crate::node::restore_data_dir(&args.cfg, disk, &imported.state)?;
    let st = &imported.state;
    Ok(format!(
        "restored snapshot {} into {}: member {} ({:x}) of cluster {:x}; revision {}, compacted at {}, \
         {} keys, {} leases, {} users, {} roles, auth {}",
        args.file,
        args.cfg.data_dir,
        identity.name,
        identity.member_id,
        identity.cluster_id,
        st.kv.current_revision(),
        st.kv.compact_revision().max(0),
        st.kv.key_count(),
        st.leases.len(),
        st.auth.users().count(),
        st.auth.roles().count(),
        if st.auth.is_enabled() { "enabled" } else { "disabled" },
    ))
}

/// A member started on a data dir that `etcdctl snapshot restore` wrote (etcd's
/// backend in `member/snap/db`, etcd's WAL beside it, no MetaStore identity) takes the
/// database over: its state becomes this member's restored snapshot, as
/// `metastore snapshot restore` of the same file would make it, with the membership of
/// the flags (etcd's WAL there holds only the membership entries the restore derived
/// from those same flags, and is removed: its segment names would read as MetaStore's).
/// `member/snap/db` itself is left as it is. `Ok(None)` when the dir is not such.
///
/// Refused, before anything is changed: a `db` whose consistent index is past the
/// restore's membership entries, i.e. the backend of an etcd member that has run,
/// whose WAL may hold committed entries the db lacks (take a snapshot of that member
/// and restore it instead); a member dir that already holds MetaStore's vote or
/// snapshots (a member that took the db over and lost its identity file: taking it
/// over again would drop its log); flags that do not name this member.
pub fn adopt_etcd_restore(
    cfg: &config::Config,
    disk: &dyn Disk,
    member_dir: &Path,
) -> Result<Option<crate::node::Identity>, String> {
    let db_path = member_dir.join("snap").join("db");
    if !disk.exists(&db_path) {
        return Ok(None);
    }
    let what = db_path.display();
    // A member that took the db over already has MetaStore's own files beside it:
    // without its identity it must not be taken over again (its log would be lost).
    let ours = disk.exists(&member_dir.join("vote"))
        || disk
            .list_dir(&member_dir.join("snap"))
            .is_ok_and(|names| names.iter().any(|n| n.starts_with("snapshot-") && n.ends_with(".snap")));
    if ours {
        return Err(format!(
            "{} has MetaStore's data (a vote or snapshots) but no member identity file: refusing to start \
             (restore the identity file, or restore the member from a snapshot into a new data dir)",
            member_dir.display()
        ));
    }
    // The flags must name this member before anything is changed.
    crate::node::bootstrap_identity(cfg)?;
    let bytes = disk.read(&db_path).map_err(|e| format!("read {what}: {e}"))?;
    let buckets = read_buckets(&bytes).map_err(|e| format!("{what}: {e}"))?;
    let members = cfg.initial_cluster.iter().map(|(name, _)| name).collect::<std::collections::BTreeSet<_>>();
    let applied = crate::storage::etcd_import::consistent_index(&buckets).unwrap_or(0);
    if applied > members.len() as u64 {
        return Err(format!(
            "{what} is the backend of an etcd member that has run (consistent index {applied}), not one \
             `etcdctl snapshot restore` wrote for {} member(s): its WAL may hold entries the db lacks. \
             Take `etcdctl snapshot save` from that member and `metastore snapshot restore` the file",
            members.len()
        ));
    }
    let limits = ApplyLimits { max_txn_ops: cfg.max_txn_ops };
    let imported =
        import_etcd_db(&buckets, limits, ImportOptions::default()).map_err(|e| format!("{what}: {e}"))?;
    drop(buckets);
    drop(bytes);
    for w in &imported.warnings {
        tracing::warn!(db = %what, warning = %w, "etcd backend: not carried over");
    }
    // etcdctl wrote its WAL in `member/wal` or in its own `--wal-dir`: clear both.
    let mut wal_dirs = vec![member_dir.join("wal"), cfg.wal_dir_path()];
    wal_dirs.dedup();
    for wal_dir in wal_dirs.iter().filter(|d| disk.exists(d)) {
        let names = disk.list_dir(wal_dir).map_err(|e| format!("list {}: {e}", wal_dir.display()))?;
        for name in names.iter().filter(|n| n.ends_with(".wal")) {
            let path = wal_dir.join(name);
            disk.remove(&path).map_err(|e| format!("remove etcd's {}: {e}", path.display()))?;
        }
        disk.sync_dir(wal_dir).map_err(|e| format!("sync {}: {e}", wal_dir.display()))?;
    }
    let identity = crate::node::write_restored_member(cfg, disk, &imported.state)?;
    let st = &imported.state;
    tracing::info!(
        db = %what,
        revision = st.kv.current_revision(),
        keys = st.kv.key_count(),
        leases = st.leases.len(),
        "took over the data dir etcdctl snapshot restore wrote"
    );
    Ok(Some(identity))
}

/// Run `metastore snapshot <argv>`; returns the exit status.
pub fn main(argv: &[String]) -> i32 {
    let args = match parse(argv) {
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return 0;
        }
        Ok(Parsed::Restore(a)) => a,
        Err(e) => {
            eprintln!("Error: {e}\nsee metastore snapshot --help");
            return 2;
        }
    };
    match restore(&args, &FsDisk::new()) {
        Ok(summary) => {
            println!("{summary}");
            0
        }
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

#[cfg(test)]
#[path = "snapshot_cmd_test.rs"]
mod snapshot_cmd_test;
