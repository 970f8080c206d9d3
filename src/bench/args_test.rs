use std::time::Duration;

use super::*;

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn run(s: &str) -> Args {
    match parse(&argv(s)) {
        Ok(Parsed::Run(a)) => a,
        other => panic!("{s:?} → {other:?}"),
    }
}

fn err(s: &str) -> String {
    match parse(&argv(s)) {
        Err(e) => e,
        Ok(p) => panic!("{s:?} should fail, got {p:?}"),
    }
}

#[test]
fn defaults() {
    let a = run("put");
    assert_eq!(a.op, Op::Put);
    assert_eq!(a.endpoints, vec!["http://127.0.0.1:2379".to_string()]);
    assert_eq!((a.conns, a.clients), (1, 1));
    assert_eq!(a.stop, Stop::Total(10_000));
    assert_eq!((a.key_size, a.val_size, a.key_space), (8, 8, 10_000));
    assert!(!a.seq_keys && !a.precreate && !a.json);
    assert_eq!(a.read_pct, 50);
}

#[test]
fn every_flag_both_spellings() {
    let a = run("--json txn-put --endpoints=a:1,http://b:2/ --conns 2 --clients=4 --total 300 --key-size 4 \
         --val-size=0 --key-space 9999 --seq-keys --precreate");
    assert_eq!(a.op, Op::TxnPut);
    assert_eq!(a.endpoints, vec!["http://a:1".to_string(), "http://b:2".to_string()]);
    assert_eq!((a.conns, a.clients, a.stop), (2, 4, Stop::Total(300)));
    assert_eq!((a.key_size, a.val_size, a.key_space), (4, 0, 9999));
    assert!(a.seq_keys && a.precreate && a.json);
}

#[test]
fn workloads_and_consistency() {
    assert_eq!(run("range").op, Op::Range { serializable: false });
    assert_eq!(run("range --consistency l").op, Op::Range { serializable: false });
    assert_eq!(run("range --consistency s").op, Op::Range { serializable: true });
    assert_eq!(run("range --consistency=serializable").op.name(), "range-serializable");
    assert_eq!(run("delete").op, Op::Delete);
    assert_eq!(run("watch-latency").op, Op::WatchLatency);
    assert_eq!(run("lease-keepalive").op, Op::LeaseKeepalive);
    let m = run("mixed --read-pct 90");
    assert_eq!((m.op, m.read_pct), (Op::Mixed, 90));
}

#[test]
fn durations() {
    assert_eq!(run("put --duration 10s").stop, Stop::Duration(Duration::from_secs(10)));
    assert_eq!(run("put --duration=250ms").stop, Stop::Duration(Duration::from_millis(250)));
    assert_eq!(run("put --duration 2m").stop, Stop::Duration(Duration::from_secs(120)));
    assert_eq!(run("put --duration 3").stop, Stop::Duration(Duration::from_secs(3)));
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("ten").is_err());
    assert!(parse_duration("-1s").is_err());
}

#[test]
fn help() {
    assert_eq!(parse(&argv("--help")), Ok(Parsed::Help));
    assert_eq!(parse(&argv("put -h --bogus")), Ok(Parsed::Help));
    for flag in VALUE_FLAGS.iter().chain(BOOL_FLAGS) {
        assert!(HELP.contains(&format!("--{flag}")), "--help does not document --{flag}");
    }
}

#[test]
fn bad_input_names_the_problem() {
    assert!(err("").contains("no workload"));
    assert!(err("get").contains("unknown workload \"get\""));
    assert!(err("put range").contains("unexpected argument \"range\""));
    assert!(err("put --bogus 1").contains("unknown flag --bogus"));
    assert!(err("put --total").contains("--total needs a value"));
    assert!(err("put --total ten").contains("--total: \"ten\" is not a whole number"));
    assert!(err("put --total 0").contains("--total: must be at least 1"));
    assert!(err("put --clients 0").contains("--clients: must be at least 1"));
    assert!(err("put --total 5 --duration 1s").contains("exclude each other"));
    assert!(err("put --duration 0s").contains("--duration"));
    assert!(err("put --json=yes").contains("--json takes no value"));
    assert!(err("range --consistency x").contains("neither l nor s"));
    assert!(err("put --consistency s").contains("range workload only"));
    assert!(err("put --read-pct 5").contains("mixed workload only"));
    assert!(err("mixed --read-pct 101").contains("0..=100"));
    assert!(err("put --key-size 2 --key-space 101").contains("--key-space 101 needs keys of 3 digits"));
    assert!(err("watch-latency --key-size 1 --key-space 5 --clients 11").contains("--clients"));
}

#[test]
fn endpoints() {
    assert_eq!(parse_endpoints("h:1, http://h:2").unwrap(), vec!["http://h:1", "http://h:2"]);
    assert!(parse_endpoints("h:1,").unwrap_err().contains("empty endpoint"));
    assert!(parse_endpoints("https://h:1").unwrap_err().contains("TLS"));
    assert!(parse_endpoints("h").unwrap_err().contains("not host:port"));
    assert!(parse_endpoints("h:x").unwrap_err().contains("not host:port"));
    assert!(parse_endpoints("http://h:1/v3").unwrap_err().contains("not host:port"));
}

#[test]
fn key_space_fits_key_size() {
    assert!(check_fits("k", 10, 1).is_ok());
    assert!(check_fits("k", 11, 1).is_err());
    assert!(check_fits("k", 1, 1).is_ok());
    assert!(check_fits("k", 100_000_000, 8).is_ok());
    assert!(check_fits("k", 100_000_001, 8).is_err());
}
