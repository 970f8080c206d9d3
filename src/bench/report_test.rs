use std::time::Duration;

use super::*;
use crate::bench::args::{parse, Parsed};

#[test]
fn nearest_rank() {
    let v = [1, 2, 3, 4, 5];
    assert_eq!(percentile(&v, 500), 3);
    assert_eq!(percentile(&v, 900), 5);
    assert_eq!(percentile(&v, 200), 1);
    assert_eq!(percentile(&v, 210), 2);
    assert_eq!(percentile(&v, 1000), 5);
    assert_eq!(percentile(&v, 0), 1);
    assert_eq!(percentile(&[], 500), 0);
    assert_eq!(percentile(&[7], 999), 7);
}

#[test]
fn nearest_rank_of_a_thousand() {
    let v: Vec<u32> = (1..=1000).collect();
    assert_eq!(percentile(&v, 500), 500);
    assert_eq!(percentile(&v, 900), 900);
    assert_eq!(percentile(&v, 990), 990);
    assert_eq!(percentile(&v, 999), 999);
    let v: Vec<u32> = (1..=100_000).collect();
    assert_eq!(percentile(&v, 999), 99_900);
}

#[test]
fn stats_merge_keeps_the_first_error() {
    let mut a = Stats::default();
    a.record(Ok(5));
    let mut b = Stats::default();
    b.record(Err("first".into()));
    b.record(Err("second".into()));
    b.record(Ok(1));
    a.merge(b);
    assert_eq!(a.latencies_us, vec![5, 1]);
    assert_eq!((a.errors, a.first_error.as_deref()), (2, Some("first")));
}

fn args() -> Args {
    match parse(&["put".to_string(), "--clients".to_string(), "2".to_string()]) {
        Ok(Parsed::Run(a)) => a,
        other => panic!("{other:?}"),
    }
}

#[test]
fn report_json_is_one_flat_line() {
    let mut stats = Stats::default();
    for us in [1000, 2000, 3000, 4000] {
        stats.record(Ok(us));
    }
    stats.record(Err("status: Unavailable, message: \"no \\ leader\"\n".into()));
    let r = Report::new(&args(), stats, Duration::from_secs(2));
    assert_eq!((r.total, r.errors), (5, 1));
    assert_eq!(r.ops_per_s, 2.0);
    assert_eq!((r.p50_ms, r.p90_ms, r.max_ms), (2.0, 4.0, 4.0));
    let j = r.json();
    assert!(!j.contains('\n'));
    assert_eq!(
        j,
        "{\"op\":\"put\",\"total\":5,\"errors\":1,\"seconds\":2,\"ops_per_s\":2,\"p50_ms\":2,\
         \"p90_ms\":4,\"p99_ms\":4,\"p999_ms\":4,\"max_ms\":4,\"conns\":1,\"clients\":2,\"key_size\":8,\
         \"val_size\":8,\"key_space\":10000,\
         \"first_error\":\"status: Unavailable, message: \\\"no \\\\ leader\\\"\\n\"}"
    );
    assert!(r.human().contains("p99.9 4.000"));
    assert!(r.human().contains("first error: status: Unavailable"));
}

#[test]
fn report_without_errors_has_no_first_error() {
    let mut stats = Stats::default();
    stats.record(Ok(1234));
    let r = Report::new(&args(), stats, Duration::from_millis(1500));
    let j = r.json();
    assert!(!j.contains("first_error"), "{j}");
    assert!(j.contains("\"seconds\":1.5,"), "{j}");
    assert!(j.contains("\"p50_ms\":1.234,"), "{j}");
    assert!(j.contains("\"ops_per_s\":0.667,"), "{j}");
}

#[test]
fn json_escapes() {
    assert_eq!(json_string("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    assert_eq!(json_number(f64::NAN), "0");
    assert_eq!(json_number(0.0), "0");
    assert_eq!(json_number(10.0), "10");
    assert_eq!(json_number(0.1234), "0.123");
}
