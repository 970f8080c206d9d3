//! Hand-written histories: each names the guarantee it exercises. Times are logical.

use crate::history::{Compare, KeyValue, Op, Outcome, Request, Response};
use crate::linearize::{check, Config, Guarantee, Verdict, Violation};
use crate::model::KvState;

pub(super) fn kv(key: &str, value: &str, create: i64, modr: i64, version: i64) -> KeyValue {
    KeyValue { key: key.into(), value: value.into(), create_revision: create, mod_revision: modr, version }
}

fn op(client: u64, at: (u64, u64), request: Request, outcome: Outcome) -> Op {
    Op { client, invoke_ns: at.0, return_ns: at.1, request, outcome }
}

fn put(client: u64, at: (u64, u64), key: &str, value: &str, rev: i64) -> Op {
    let outcome = Outcome::Ok(Response { revision: rev, ..Response::default() });
    op(client, at, Request::Put { key: key.into(), value: value.into() }, outcome)
}

fn put_unknown(client: u64, at: (u64, u64), key: &str, value: &str) -> Op {
    let outcome = Outcome::Unknown { reason: "timeout".into() };
    op(client, at, Request::Put { key: key.into(), value: value.into() }, outcome)
}

fn get(client: u64, at: (u64, u64), key: &str, rev: i64, found: Option<KeyValue>) -> Op {
    let outcome =
        Outcome::Ok(Response { revision: rev, kvs: found.into_iter().collect(), ..Response::default() });
    op(client, at, Request::Get { key: key.into() }, outcome)
}

fn range(client: u64, at: (u64, u64), prefix: &str, rev: i64, kvs: Vec<KeyValue>) -> Op {
    let outcome = Outcome::Ok(Response { revision: rev, kvs, ..Response::default() });
    op(client, at, Request::Range { prefix: prefix.into() }, outcome)
}

fn delete(client: u64, at: (u64, u64), key: &str, rev: i64, deleted: i64) -> Op {
    let outcome = Outcome::Ok(Response { revision: rev, deleted, ..Response::default() });
    op(client, at, Request::Delete { key: key.into() }, outcome)
}

fn cas(at: (u64, u64), key: &str, compare: Compare, value: &str, response: Response) -> Op {
    op(0, at, Request::Cas { key: key.into(), compare, value: value.into() }, Outcome::Ok(response))
}

pub(super) fn assert_linearizable(history: &[Op]) -> crate::linearize::Stats {
    match check(history, &Config::default()) {
        Verdict::Linearizable(stats) => stats,
        other => panic!("expected linearizable, got {other:#?}"),
    }
}

pub(super) fn assert_violation(history: &[Op], guarantee: Guarantee) -> Violation {
    match check(history, &Config::default()) {
        Verdict::Violation(v) => {
            assert_eq!(v.guarantee, guarantee, "wrong guarantee in:\n{v}");
            *v
        }
        other => panic!("expected a {guarantee} violation, got {other:#?}"),
    }
}

#[test]
fn sequential_ops_are_linearizable() {
    let h = vec![
        put(0, (0, 1), "a", "1", 2),
        get(0, (2, 3), "a", 2, Some(kv("a", "1", 2, 2, 1))),
        put(0, (4, 5), "b", "1", 3),
        put(0, (6, 7), "a", "2", 4),
        range(0, (8, 9), "", 4, vec![kv("a", "2", 2, 4, 2), kv("b", "1", 3, 3, 1)]),
        delete(0, (10, 11), "a", 5, 1),
        get(0, (12, 13), "a", 5, None),
        put(0, (14, 15), "a", "3", 6),
        get(0, (16, 17), "a", 6, Some(kv("a", "3", 6, 6, 1))),
    ];
    let stats = assert_linearizable(&h);
    assert_eq!((stats.acked_ops, stats.revisions, stats.gaps_filled), (9, 5, 0));
}

#[test]
fn empty_history_is_linearizable() {
    assert_linearizable(&[]);
}

#[test]
fn concurrent_writes_linearize_in_either_order() {
    for (rev_1, rev_2) in [(2, 3), (3, 2)] {
        let last = if rev_1 > rev_2 { kv("a", "1", 2, 3, 2) } else { kv("a", "2", 2, 3, 2) };
        let h = vec![
            put(0, (0, 10), "a", "1", rev_1),
            put(1, (1, 9), "a", "2", rev_2),
            get(2, (20, 21), "a", 3, Some(last)),
        ];
        assert_linearizable(&h);
    }
}

#[test]
fn read_below_a_completed_write_is_a_stale_read() {
    let h = vec![
        put(0, (0, 5), "a", "1", 2),
        put(0, (6, 10), "a", "2", 3),
        get(1, (11, 12), "a", 2, Some(kv("a", "1", 2, 2, 1))),
    ];
    let v = assert_violation(&h, Guarantee::StaleRead);
    assert_eq!(v.ops, vec![1, 2]);
}

#[test]
fn read_at_the_right_revision_with_old_content_is_a_stale_read() {
    let h = vec![
        put(0, (0, 5), "a", "1", 2),
        put(0, (6, 10), "a", "2", 3),
        get(1, (11, 12), "a", 3, Some(kv("a", "1", 2, 2, 1))),
    ];
    assert_violation(&h, Guarantee::StaleRead);
}

#[test]
fn acknowledged_write_never_seen_again_is_a_lost_write() {
    let h = vec![
        put(0, (0, 5), "a", "1", 2),
        put(0, (6, 10), "a", "2", 3),
        put(1, (7, 9), "b", "1", 4),
        get(1, (8, 12), "a", 4, Some(kv("a", "1", 2, 2, 1))),
    ];
    assert_violation(&h, Guarantee::LostWrite);
}

#[test]
fn write_seen_then_unseen_is_a_phantom_read() {
    let h = vec![
        put(0, (0, 1), "a", "0", 2),
        put_unknown(1, (2, 100), "a", "x"),
        get(0, (10, 11), "a", 3, Some(kv("a", "x", 2, 3, 2))),
        put(0, (12, 13), "b", "1", 4),
        get(0, (14, 15), "a", 4, Some(kv("a", "0", 2, 2, 1))),
    ];
    let v = assert_violation(&h, Guarantee::PhantomRead);
    assert_eq!(v.ops, vec![2, 4]);
}

#[test]
fn reads_at_one_revision_must_agree() {
    let h = vec![
        put_unknown(1, (0, 100), "a", "x"),
        get(0, (10, 11), "a", 2, Some(kv("a", "x", 2, 2, 1))),
        get(0, (12, 13), "a", 2, None),
    ];
    let v = check(&h, &Config::default());
    assert!(v.violation().is_some(), "{v:?}");
}

#[test]
fn unknown_put_seen_later_is_linearizable() {
    let h = vec![
        put(0, (0, 1), "a", "1", 2),
        put_unknown(1, (2, 30), "a", "2"),
        get(0, (40, 41), "a", 3, Some(kv("a", "2", 2, 3, 2))),
    ];
    assert_eq!(assert_linearizable(&h).gaps_filled, 1);
}

#[test]
fn unknown_put_never_seen_is_linearizable() {
    let h = vec![
        put(0, (0, 1), "a", "1", 2),
        put_unknown(1, (2, 30), "a", "2"),
        get(0, (40, 41), "a", 2, Some(kv("a", "1", 2, 2, 1))),
    ];
    assert_eq!(assert_linearizable(&h).gaps_filled, 0);
}

#[test]
fn unknown_put_can_take_effect_after_the_client_gave_up() {
    let h = vec![
        put_unknown(1, (0, 10), "a", "x"),
        put(0, (20, 21), "b", "1", 2),
        get(0, (30, 31), "a", 3, Some(kv("a", "x", 3, 3, 1))),
    ];
    assert_linearizable(&h);
}

#[test]
fn unknown_put_cannot_precede_its_invocation() {
    let h = vec![
        put(0, (0, 1), "b", "1", 2),
        get(0, (2, 3), "a", 3, Some(kv("a", "x", 3, 3, 1))),
        put_unknown(1, (5, 10), "a", "x"),
    ];
    let v = assert_violation(&h, Guarantee::RevisionGap);
    assert!(v.report.contains("fails when #1 returns: phantom read"), "{v}");
}

#[test]
fn two_writes_with_one_revision_are_a_duplicate_revision() {
    let h = vec![put(0, (0, 5), "a", "1", 2), put(1, (1, 6), "b", "1", 2)];
    let v = assert_violation(&h, Guarantee::DuplicateRevision);
    assert_eq!(v.ops, vec![0, 1]);
}

#[test]
fn a_revision_nothing_produced_is_a_gap() {
    let h = vec![put(0, (0, 1), "a", "1", 2), put(0, (2, 3), "b", "1", 4)];
    assert_violation(&h, Guarantee::RevisionGap);
    let mut filled = h.clone();
    filled.push(put_unknown(1, (0, 50), "c", "1"));
    assert_eq!(assert_linearizable(&filled).gaps_filled, 1);
}

#[test]
fn cas_succeeds_only_when_its_compare_holds() {
    let ok = |rev| Response { revision: rev, succeeded: true, ..Response::default() };
    let h = vec![
        put(0, (0, 1), "a", "1", 2),
        cas((2, 3), "a", Compare::ModRevision(2), "2", ok(3)),
        cas((4, 5), "a", Compare::Value("2".into()), "3", ok(4)),
        cas((6, 7), "b", Compare::ModRevision(0), "1", ok(5)),
        cas(
            (8, 9),
            "a",
            Compare::ModRevision(2),
            "9",
            Response { revision: 5, kvs: vec![kv("a", "3", 2, 4, 3)], ..Response::default() },
        ),
        cas((10, 11), "c", Compare::Value("x".into()), "9", Response { revision: 5, ..Response::default() }),
    ];
    assert_linearizable(&h);
    let wrong = vec![put(0, (0, 1), "a", "1", 2), cas((2, 3), "a", Compare::ModRevision(7), "2", ok(3))];
    let v = assert_violation(&wrong, Guarantee::ResponseMismatch);
    assert!(v.report.contains("cas(if a mod_revision==7"), "{v}");
}

#[test]
fn unknown_cas_fills_a_gap_only_if_its_compare_held() {
    let unknown_cas = |compare| {
        let request = Request::Cas { key: "a".into(), compare, value: "2".into() };
        op(1, (2, 50), request, Outcome::Unknown { reason: "timeout".into() })
    };
    let seen = get(0, (60, 61), "a", 3, Some(kv("a", "2", 2, 3, 2)));
    let base = put(0, (0, 1), "a", "1", 2);
    assert_linearizable(&[base.clone(), unknown_cas(Compare::Value("1".into())), seen.clone()]);
    assert_violation(&[base, unknown_cas(Compare::Value("0".into())), seen], Guarantee::RevisionGap);
}

#[test]
fn deleting_nothing_keeps_the_revision() {
    let h = vec![
        put(0, (0, 1), "a", "1", 2),
        delete(0, (2, 3), "b", 2, 0),
        put(0, (4, 5), "b", "1", 3),
        delete(0, (6, 7), "b", 4, 1),
        delete(0, (8, 9), "b", 4, 0),
    ];
    assert_linearizable(&h);
    let bumped = vec![put(0, (0, 1), "a", "1", 2), delete(0, (2, 3), "b", 3, 0)];
    assert_violation(&bumped, Guarantee::RevisionGap);
    let claims = vec![put(0, (0, 1), "a", "1", 2), delete(0, (2, 3), "b", 3, 1)];
    assert_violation(&claims, Guarantee::ResponseMismatch);
}

#[test]
fn put_many_is_one_revision_and_atomic() {
    let many = |at, rev| {
        let request = Request::PutMany { kvs: vec![("a".into(), "1".into()), ("b".into(), "1".into())] };
        op(0, at, request, Outcome::Ok(Response { revision: rev, succeeded: true, ..Response::default() }))
    };
    let both = vec![kv("a", "1", 2, 2, 1), kv("b", "1", 2, 2, 1)];
    assert_linearizable(&[many((0, 1), 2), range(1, (2, 3), "", 2, both)]);
    let half = vec![many((0, 1), 2), range(1, (2, 3), "", 2, vec![kv("a", "1", 2, 2, 1)])];
    assert_violation(&half, Guarantee::LostWrite);
}

#[test]
fn a_value_only_a_failed_op_wrote_is_a_phantom_read() {
    let failed = op(
        1,
        (0, 5),
        Request::Put { key: "a".into(), value: "x".into() },
        Outcome::Fail { reason: "no".into() },
    );
    let h = vec![failed, get(0, (6, 7), "a", 2, Some(kv("a", "x", 2, 2, 1)))];
    let v = assert_violation(&h, Guarantee::PhantomRead);
    assert!(v.detail.contains("failed"), "{v}");
}

#[test]
fn reading_a_revision_before_its_write_began_is_a_phantom_read() {
    let h = vec![get(0, (0, 1), "a", 2, Some(kv("a", "1", 2, 2, 1))), put(1, (5, 6), "a", "1", 2)];
    assert_violation(&h, Guarantee::PhantomRead);
}

#[test]
fn initial_state_is_respected() {
    let initial = KvState::with_kvs(10, &[kv("a", "0", 3, 7, 2)]);
    let config = Config { initial, ..Config::default() };
    let h = vec![put(0, (0, 1), "a", "1", 11), get(0, (2, 3), "a", 11, Some(kv("a", "1", 3, 11, 3)))];
    assert!(check(&h, &config).is_linearizable());
    let below = vec![put(0, (0, 1), "a", "1", 10)];
    assert!(matches!(
        check(&below, &config).violation().map(|v| v.guarantee),
        Some(Guarantee::RevisionOrder)
    ));
}

#[test]
fn report_names_the_ops_state_and_first_failing_prefix() {
    let h = vec![
        put(0, (0, 1), "a", "1", 2),
        put_unknown(1, (2, 100), "a", "x"),
        put_unknown(2, (2, 100), "b", "y"),
        get(0, (10, 11), "b", 3, None),
        put(0, (12, 13), "c", "1", 4),
        delete(0, (14, 15), "a", 4, 0),
        get(0, (20, 21), "c", 4, Some(kv("c", "1", 4, 4, 1))),
    ];
    let v = assert_violation(&h, Guarantee::LostWrite);
    println!("{v}");
    assert_eq!(v.first_failure_ns, Some(15), "{v}");
    assert!(v.report.contains("#5 c0 [14..15] delete(a) -> ok rev=4"), "{v}");
    assert!(v.report.contains("model at revision"), "{v}");
    assert!(v.report.contains("fails when #5 returns"), "{v}");
}

#[test]
fn budget_exhaustion_is_reported_not_hung() {
    // Twenty pending puts, ten gaps: more work than a budget of 10 steps.
    let mut h: Vec<Op> = (0..20).map(|i| put_unknown(1, (0, 1000), &format!("k{i}"), "v")).collect();
    h.push(put(0, (10, 20), "z", "1", 12));
    let config = Config { max_steps: 10, ..Config::default() };
    match check(&h, &config) {
        Verdict::Unknown { reason, .. } => {
            assert!(reason.starts_with("unknown: budget exhausted"), "{reason}")
        }
        other => panic!("expected budget exhaustion, got {other:?}"),
    }
    assert!(check(&h, &Config::default()).is_linearizable());
}
