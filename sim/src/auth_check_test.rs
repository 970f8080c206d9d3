//! The auth checker: coverage, the model's rules, candidate states by marker and by
//! time, and each verdict on small hand-made histories.

use crate::auth_check::{
    check, covers, Access, AuthHistory, AuthModel, Change, ClientOp, KeyRange, OpOutcome, Perm, PermKind,
    Seen,
};

fn key(k: &str) -> KeyRange {
    KeyRange::key(k.as_bytes())
}

fn range(k: &str, end: &str) -> KeyRange {
    KeyRange::range(k.as_bytes(), end.as_bytes())
}

fn grant(role: &str, kind: PermKind, r: KeyRange) -> Change {
    Change::GrantPermission { role: role.into(), perm: Perm { kind, range: r } }
}

fn revoke(role: &str, r: KeyRange) -> Change {
    Change::RevokePermission { role: role.into(), range: r }
}

/// u0 with role r0 (read-write on k1), u1 with r1 (nothing), root with root.
fn base() -> AuthModel {
    let mut m = AuthModel::default();
    m.roles.insert("r0".into(), vec![]);
    m.roles.insert("r1".into(), vec![]);
    m.users.insert("root".into(), ["root".to_string()].into());
    m.users.insert("u0".into(), ["r0".to_string()].into());
    m.users.insert("u1".into(), ["r1".to_string()].into());
    m.apply(&grant("r0", PermKind::ReadWrite, key("k1"))).unwrap();
    m
}

fn op(user: &str, needs: Vec<Access>, value: Option<&str>, at: (u64, u64), outcome: OpOutcome) -> ClientOp {
    ClientOp {
        client: 1,
        user: user.into(),
        what: format!("{needs:?}"),
        needs,
        value: value.map(|v| v.as_bytes().to_vec()),
        invoke_ns: at.0,
        return_ns: at.1,
        outcome,
    }
}

fn put(user: &str, k: &str, value: &str, at: (u64, u64), outcome: OpOutcome) -> ClientOp {
    op(user, vec![Access::Write(key(k))], Some(value), at, outcome)
}

#[test]
fn coverage_is_of_the_union_and_of_every_key_between() {
    let (a_c, c_e, x) = (range("a", "c"), range("c", "e"), key("x"));
    let have = [&a_c, &c_e, &x];
    assert!(covers(&have, &range("b", "d")));
    assert!(covers(&have, &key("d")));
    assert!(!covers(&have, &range("d", "f")));
    assert!(covers(&have, &key("x")));
    assert!(!covers(&have, &key("y")));
    // Single keys k1 and k2 do not cover [k1, k3): "k1a" lies between.
    let (k1, k2) = (key("k1"), key("k2"));
    assert!(!covers(&[&k1, &k2], &range("k1", "k3")));
    assert!(!covers(&[&k1, &k2], &range("k1", "k2")));
    // ...but k1 alone is [k1, k1\0).
    assert!(covers(&[&k1], &KeyRange::range(b"k1", b"k1\0")));
    // "\0" as range_end: everything from the key on.
    let from_k = KeyRange::range(b"k", b"\0");
    assert!(covers(&[&from_k], &range("k5", "z")));
    assert!(covers(&[&from_k], &KeyRange::range(b"k5", b"\0")));
    assert!(!covers(&[&range("k", "z")], &KeyRange::range(b"k5", b"\0")));
    assert!(!covers(&[], &key("a")));
    // Overlaps and order do not matter.
    let (r1, r2, r3) = (range("k3", "k6"), range("k0", "k4"), range("k5", "k8"));
    assert!(covers(&[&r1, &r2, &r3], &range("k0", "k8")));
    assert!(!covers(&[&r1, &r3], &range("k0", "k8")));
}

#[test]
fn model_follows_etcds_rules() {
    let mut m = base();
    let needs = [Access::Read(key("k1")), Access::Write(key("k1"))];
    assert_eq!(m.lacks("u0", &needs), None);
    // A grant on the same (key, range_end) replaces the kind.
    m.apply(&grant("r0", PermKind::Read, key("k1"))).unwrap();
    assert_eq!(m.lacks("u0", &needs), Some(&needs[1]));
    assert!(m.apply(&revoke("r0", range("k1", "k2"))).is_err(), "revoke needs the exact range");
    m.apply(&revoke("r0", key("k1"))).unwrap();
    assert!(m.apply(&revoke("r0", key("k1"))).is_err());
    assert_eq!(m.lacks("u0", &needs), Some(&needs[0]));
    // Permissions merge over roles; root may do anything; unknown users nothing.
    m.apply(&grant("r1", PermKind::Write, range("k0", "k5"))).unwrap();
    m.apply(&Change::GrantRole { user: "u0".into(), role: "r1".into() }).unwrap();
    m.apply(&grant("r0", PermKind::Read, key("k1"))).unwrap();
    assert_eq!(m.lacks("u0", &needs), None);
    assert_eq!(m.lacks("root", &[Access::Write(key("zzz"))]), None);
    assert!(m.lacks("nobody", &needs).is_some());
    m.apply(&Change::RevokeRole { user: "u0".into(), role: "r1".into() }).unwrap();
    assert!(m.apply(&Change::RevokeRole { user: "u0".into(), role: "r1".into() }).is_err());
    assert_eq!(m.lacks("u0", &needs), Some(&needs[1]));
}

/// Setup (marker 10, done at 100), revoke r0's k1 (invoked 200, done 300, marker 20),
/// grant it back (invoked 400, done 500, marker 30).
fn toggled() -> AuthHistory {
    let mut h = AuthHistory::new(base(), 100, 10);
    h.push(revoke("r0", key("k1")), 200, 300, 20).unwrap();
    h.push(grant("r0", PermKind::ReadWrite, key("k1")), 400, 500, 30).unwrap();
    h
}

#[test]
fn successes_by_marker_revision() {
    let h = toggled();
    let ok = |rev| OpOutcome::Ok { revision: rev };
    // Before the revoke's marker: state 0 or 1; one permits.
    assert!(check(&h, &[put("u0", "k1", "a", (110, 120), ok(15))], &[]).is_ok());
    // At or after the revoke's marker, before the grant's: states 1 or 2 (the grant
    // may have applied already).
    assert!(check(&h, &[put("u0", "k1", "b", (410, 420), ok(25))], &[]).is_ok());
    // A write at 25 that only state 1 could have judged would be caught: make the
    // grant go to another key.
    let mut h2 = AuthHistory::new(base(), 100, 10);
    h2.push(revoke("r0", key("k1")), 200, 300, 20).unwrap();
    h2.push(grant("r0", PermKind::ReadWrite, key("k2")), 400, 500, 30).unwrap();
    let err = check(&h2, &[put("u0", "k1", "c", (410, 420), ok(25))], &[]).unwrap_err();
    assert!(err.contains("forbidden in every state"), "{err}");
    assert!(err.contains("state 1") && err.contains("state 2"), "{err}");
    // Wall-clock times do not matter to a success: only its revision does.
    assert!(check(&h2, &[put("u0", "k1", "d", (150, 450), ok(15))], &[]).is_ok());
    // After the last marker, only the last state.
    assert!(check(&h2, &[put("u0", "k2", "e", (600, 610), ok(35))], &[]).is_ok());
    assert!(check(&h2, &[put("u0", "k1", "f", (600, 610), ok(35))], &[]).is_err());
    // A revision before setup's marker is wrong in itself.
    assert!(check(&h2, &[put("u0", "k1", "g", (600, 610), ok(5))], &[]).is_err());
}

#[test]
fn denials_by_time_window() {
    let mut h = AuthHistory::new(base(), 100, 10);
    h.push(grant("r1", PermKind::Write, key("k1")), 200, 300, 20).unwrap();
    // u1 denied before the grant was invoked: forbidden in state 0. Fine.
    assert!(check(&h, &[put("u1", "k1", "a", (110, 150), OpOutcome::Denied)], &[]).is_ok());
    // Overlapping the grant: states 0..=1; state 0 forbids. Fine.
    assert!(check(&h, &[put("u1", "k1", "b", (250, 260), OpOutcome::Denied)], &[]).is_ok());
    // Invoked after the grant completed: only state 1, which permits.
    let err = check(&h, &[put("u1", "k1", "c", (350, 360), OpOutcome::Denied)], &[]).unwrap_err();
    assert!(err.contains("denied but permitted"), "{err}");
    // A txn is judged by both branches: the else branch's key is not writable.
    let txn = op(
        "u0",
        vec![Access::Read(key("k1")), Access::Write(key("k1")), Access::Write(key("k2"))],
        Some("d"),
        (350, 360),
        OpOutcome::Denied,
    );
    assert!(check(&h, std::slice::from_ref(&txn), &[]).is_ok());
    let txn_ok = ClientOp { outcome: OpOutcome::Ok { revision: 25 }, ..txn };
    let err = check(&h, &[txn_ok], &[]).unwrap_err();
    assert!(err.contains("lacking write k2"), "{err}");
}

#[test]
fn unknown_writes_are_judged_when_seen() {
    let h = toggled();
    let seen = |v: &str, rev| Seen { key: b"k1".to_vec(), value: v.as_bytes().to_vec(), mod_revision: rev };
    let unknown = || OpOutcome::Unknown("timeout".into());
    // Not seen: skipped, counted.
    let r = check(&h, &[put("u0", "k1", "a", (410, 9000), unknown())], &[]).unwrap();
    assert_eq!((r.unknown, r.judged()), (1, 0));
    // Seen at 15 (state 0 or 1): permitted.
    let r = check(&h, &[put("u0", "k1", "a", (110, 9000), unknown())], &[seen("a", 15)]).unwrap();
    assert_eq!((r.resolved, r.permitted), (1, 1));
    // u1 never may write k1: seen at 25 is a violation.
    let err = check(&h, &[put("u1", "k1", "b", (110, 9000), unknown())], &[seen("b", 25)]).unwrap_err();
    assert!(err.contains("took effect at revision 25"), "{err}");
    // A refused write must never be seen.
    let err =
        check(&h, &[put("u0", "k1", "c", (410, 420), OpOutcome::Denied)], &[seen("c", 25)]).unwrap_err();
    assert!(err.contains("refused, yet"), "{err}");
    let stale = OpOutcome::Refused("revision of auth store is old".into());
    let err = check(&h, &[put("u0", "k1", "c", (410, 420), stale.clone())], &[seen("c", 25)]).unwrap_err();
    assert!(err.contains("refused, yet"), "{err}");
    let r = check(&h, &[put("u0", "k1", "c", (410, 420), stale)], &[]).unwrap();
    assert_eq!((r.refused, r.judged()), (1, 0));
    // An acknowledged write is seen at its own revision only.
    let err =
        check(&h, &[put("u0", "k1", "d", (110, 120), OpOutcome::Ok { revision: 15 })], &[seen("d", 16)])
            .unwrap_err();
    assert!(err.contains("acknowledged at revision 15"), "{err}");
    // One value, two revisions: impossible.
    assert!(check(&h, &[], &[seen("e", 15), seen("e", 16)]).is_err());
    assert!(check(&h, &[], &[seen("e", 15), seen("e", 15)]).is_ok());
}

#[test]
fn history_refuses_what_the_model_refuses_and_markers_out_of_order() {
    let mut h = AuthHistory::new(base(), 100, 10);
    assert!(h.push(revoke("r1", key("k1")), 200, 300, 20).is_err());
    assert!(h.push(grant("r1", PermKind::Read, key("k1")), 200, 300, 10).is_err());
    assert!(h.push(grant("r1", PermKind::Read, key("k1")), 200, 300, 11).is_ok());
    assert_eq!(h.changes(), 1);
}
