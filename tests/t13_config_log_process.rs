//! The real binary configured as etcd is: a YAML `--config-file` (its name, data dir
//! and dedicated WAL dir served; flags and `ETCD_*` then ignored), zap JSON log lines
//! on stderr and in a `--log-outputs` file, and etcd's refusals: an unknown flag
//! (exit 2, Go's message), a positional argument and an unopenable log file (exit 1),
//! compared with a real etcd 3.4 when one is installed.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use etcd_client::Client;
use support::{free_port, temp_dir, Proc};

fn json(line: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(line) {
        Ok(serde_json::Value::Object(map)) => map,
        other => panic!("not a JSON object: {line}: {other:?}"),
    }
}

/// A zap line has etcd's four keys first, in zap's order.
fn assert_zap(line: &str) -> serde_json::Map<String, serde_json::Value> {
    let obj = json(line);
    for key in ["level", "ts", "caller", "msg"] {
        assert!(obj.get(key).is_some_and(|v| v.is_string()), "{key} missing in {line}");
    }
    assert!(line.starts_with("{\"level\":\""), "{line}");
    let at = |key: &str| line.find(&format!("\"{key}\":")).unwrap();
    assert!(at("level") < at("ts") && at("ts") < at("caller") && at("caller") < at("msg"), "{line}");
    obj
}

fn segments(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    names.retain(|n| n.ends_with(".wal"));
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_serves_its_member_and_logs_zap_json_to_a_file() {
    let dir = temp_dir("cfgfile");
    let (client_port, peer_port) = (free_port(), free_port());
    let (data_dir, wal_dir, log_file) =
        (dir.join("data"), dir.join("wal"), dir.join("logs").join("etcd.log"));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let yaml = format!(
        "name: 'from-file'\n\
         data-dir: {data}\n\
         wal-dir: {wal}\n\
         listen-client-urls: http://127.0.0.1:{client_port}\n\
         advertise-client-urls: http://127.0.0.1:{client_port}\n\
         listen-peer-urls: http://127.0.0.1:{peer_port}\n\
         initial-advertise-peer-urls: http://127.0.0.1:{peer_port}\n\
         initial-cluster: from-file=http://127.0.0.1:{peer_port}\n\
         initial-cluster-token: 'cfg-test'\n\
         snapshot-count: 50\n\
         enable-pprof: true\n\
         client-transport-security:\n  client-cert-auth: false\n  auto-tls: false\n\
         logger: zap\n\
         log-level: info\n\
         log-outputs: [stderr, {log}]\n",
        data = data_dir.display(),
        wal = wal_dir.display(),
        log = log_file.display(),
    );
    let config = dir.join("etcd.yml");
    std::fs::write(&config, yaml).unwrap();

    // The harness's own flags (--name m1, --data-dir <dir>/ignored, ...) and ETCD_NAME
    // must all be ignored in favour of the file.
    let bin = Path::new(env!("CARGO_BIN_EXE_metastore"));
    let ignored_dir = dir.join("ignored");
    let config_flag = format!("--config-file={}", config.display());
    let start = |p: Option<Proc>| {
        drop(p);
        let env = [("ETCD_NAME", "from-env"), ("ETCD_SNAPSHOT_COUNT", "nonsense")];
        let cluster = format!("m1=http://127.0.0.1:{peer_port}");
        let mut p = Proc::spawn_member_env(
            bin,
            "m1",
            &cluster,
            &ignored_dir,
            (client_port, peer_port),
            &[config_flag.as_str()],
            &env,
        );
        p.wait_ready();
        p
    };
    let mut p = start(None);
    let mut c = Client::connect([p.endpoint()], None).await.expect("connect");
    c.put("k", "v", None).await.unwrap();
    let members = c.member_list().await.unwrap();
    let names: Vec<&str> = members.members().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["from-file"]);

    // The WAL went to wal-dir itself (as etcd's), the rest to data-dir.
    assert!(!segments(&wal_dir).is_empty(), "no WAL segment in {}", wal_dir.display());
    assert!(segments(&data_dir.join("member").join("wal")).is_empty());
    assert!(data_dir.join("member").join("identity").is_file());
    assert!(!ignored_dir.exists(), "--data-dir on the command line must be ignored");

    // stderr: zap JSON lines, the readiness lines among them.
    p.drain_log();
    let stderr_lines: Vec<String> = p.log.iter().filter(|l| l.starts_with('{')).cloned().collect();
    assert!(stderr_lines.len() >= 5, "{:?}", p.log);
    for line in &stderr_lines {
        assert_zap(line);
    }
    let loaded = stderr_lines.iter().map(|l| json(l)).find(|o| {
        o["msg"].as_str().is_some_and(|m| m.starts_with("loaded server configuration, other configuration"))
    });
    assert_eq!(loaded.expect("etcd's config-file line")["path"].as_str(), Some(config.to_str().unwrap()));
    assert!(p.log.iter().any(|l| l.contains("flags are ignored") && l.contains("--name")), "{:?}", p.log);
    assert!(p.log.iter().any(|l| l.contains("enable-pprof") && l.contains("has no effect")));

    // The log file: the same zap lines, appended across restarts.
    assert_eq!(p.terminate(), Some(0));
    let text = std::fs::read_to_string(&log_file).unwrap();
    let first_run = text.lines().count();
    assert!(first_run >= stderr_lines.len(), "file has {first_run} lines, stderr {}", stderr_lines.len());
    let objs: Vec<_> = text.lines().map(assert_zap).collect();
    assert!(objs.iter().any(|o| o["msg"] == "ready to serve client requests"));
    assert!(objs
        .iter()
        .any(|o| o["msg"] == "serving client traffic insecurely; this is strongly discouraged!"));
    assert!(objs
        .iter()
        .any(|o| o["msg"] == "starting metastore" && o["wal-dir"] == wal_dir.to_str().unwrap()));

    p = start(Some(p));
    let mut c = Client::connect([p.endpoint()], None).await.expect("connect");
    assert_eq!(c.get("k", None).await.unwrap().kvs()[0].value(), b"v", "the WAL in wal-dir replays");
    assert_eq!(p.terminate(), Some(0));
    let text = std::fs::read_to_string(&log_file).unwrap();
    assert!(text.lines().count() > first_run, "appended");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_log_kept_in_member_wal_is_not_silently_left_behind_by_wal_dir() {
    let dir = temp_dir("waldir-move");
    let mut p = Proc::start(&dir, &[]);
    assert_eq!(p.terminate(), Some(0));
    let moved = dir.join("elsewhere");
    let moved_flag = format!("--wal-dir={}", moved.display());
    let mut p = Proc::spawn(&dir, p.client_port, p.peer_port, &[&moved_flag]);
    let (code, log) = p.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "log:\n{log}");
    assert!(log.contains("--wal-dir"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a binary prints and returns for `args`, with no `ETCD_*` variables.
fn run(bin: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCD_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// A real etcd 3.4, if one is installed (`$ETCD_BIN`, /usr/bin/etcd, PATH).
fn real_etcd() -> Option<PathBuf> {
    let candidates =
        std::env::var_os("ETCD_BIN").map(PathBuf::from).into_iter().chain([PathBuf::from("/usr/bin/etcd")]);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path).map(|d| d.join("etcd"));
    let bin = candidates.chain(on_path).find(|p| p.is_file())?;
    let out = Command::new(&bin).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).contains("etcd Version: 3.4.").then_some(bin)
}

#[test]
fn refusals_exit_as_etcd_does() {
    let ours = Path::new(env!("CARGO_BIN_EXE_metastore"));
    let dir = temp_dir("refusals");
    let missing_log = dir.join("no").join("such").join("x.log");
    let missing_log_flag = format!("--log-outputs={}", missing_log.display());
    // (args, exit code, what the first stderr line says, in both binaries)
    let cases: [(Vec<&str>, i32, String); 4] = [
        (vec!["--no-such-flag"], 2, "flag provided but not defined: -no-such-flag".to_string()),
        (
            vec!["--name=x", "-no-such-flag", "3"],
            2,
            "flag provided but not defined: -no-such-flag".to_string(),
        ),
        (vec!["--name", "x", "foo"], 1, "error verifying flags, 'foo' is not a valid flag".to_string()),
        (vec!["--logger=zap", &missing_log_flag], 1, format!("open sink \"{}\"", missing_log.display())),
    ];
    let etcd = real_etcd();
    if etcd.is_none() {
        eprintln!("refusals_exit_as_etcd_does: no etcd 3.4 installed; checking metastore alone");
    }
    for (args, code, says) in &cases {
        for bin in std::iter::once(ours).chain(etcd.as_deref()) {
            let (got, stderr) = run(bin, args);
            assert_eq!(got, Some(*code), "{} {args:?}: {stderr}", bin.display());
            let first = stderr.lines().next().unwrap_or_default();
            assert!(first.contains(says.as_str()), "{} {args:?}: first line {first:?}", bin.display());
            if *code == 2 {
                assert_eq!(first, says, "{} {args:?}: Go's message alone on the first line", bin.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
