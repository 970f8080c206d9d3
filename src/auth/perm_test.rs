//! Key intervals in etcd's (key, range_end) forms, their merged unions, and the
//! coverage check of a request range; a property test against a point-by-point model.

use std::sync::LazyLock;

use proptest::prelude::*;

use super::perm::{covers_request, sorted, Interval, IntervalSet};
use super::PermKind;

fn iv(key: &[u8], range_end: &[u8]) -> Interval {
    Interval::from_etcd(key, range_end).unwrap_or_else(|| panic!("{key:?}..{range_end:?} names no key"))
}

fn set(perms: &[(&[u8], &[u8])]) -> IntervalSet {
    IntervalSet::new(perms.iter().map(|(k, e)| iv(k, e)))
}

/// Whether `s` covers the request (key, range_end), as a request is judged.
fn covers(s: &IntervalSet, key: &[u8], range_end: &[u8]) -> bool {
    covers_request(s, key, range_end)
}

// ---------------------------------------------------------------------------------
// Interval::from_etcd

#[test]
fn single_key_is_the_interval_up_to_the_key_with_a_zero_byte_appended() {
    assert_eq!(Interval::from_etcd(b"a", b""), Interval::from_etcd(b"a", b"a\0"));
    assert_ne!(
        Interval::from_etcd(b"", b""),
        Interval::from_etcd(b"", b"\0"),
        "the empty key alone, not from-key"
    );
    assert_ne!(Interval::from_etcd(b"a", b""), Interval::from_etcd(b"a", b"b"));
    // The empty key is a key too: [ "", "\0" ).
    let empty = IntervalSet::new([iv(b"", b"")]);
    assert!(covers(&empty, b"", b""));
    assert!(!covers(&empty, b"\0", b""));
}

#[test]
fn single_key_covers_exactly_that_key() {
    let s = set(&[(b"key", b"")]);
    assert!(covers(&s, b"key", b""));
    assert!(covers(&s, b"key", b"key\0"));
    assert!(!covers(&s, b"key\0", b""), "the next key is not included");
    assert!(!covers(&s, b"ke", b""));
    assert!(!covers(&s, b"key", b"key\0\0"), "a range reaching past the key");
    assert!(!covers(&s, b"key", b"kez"));
    assert!(!covers(&s, b"key", b"\0"));
}

#[test]
fn zero_range_end_is_every_key_from_key_on() {
    let from_b = iv(b"b", b"\0");
    assert_ne!(
        Some(from_b.clone()),
        Interval::from_etcd(b"b", b"\xff\xff\xff\xff"),
        "infinite, not a finite end"
    );
    let s = IntervalSet::new([from_b]);
    assert!(covers(&s, b"b", b""));
    assert!(covers(&s, b"b", b"\0"));
    assert!(covers(&s, b"zzz", b"\0"));
    assert!(covers(&s, b"\xff\xff\xff\xff\xff", b""));
    assert!(covers(&s, b"c", b"\xff\xff\xff\xff\xff\xff"));
    assert!(!covers(&s, b"a", b""));
    assert!(!covers(&s, b"a\xff", b"\0"), "starts before b");

    // "\0" .. "\0": every key but the empty one (etcd keys are never empty).
    let all = set(&[(b"\0", b"\0")]);
    assert!(covers(&all, b"\0", b"\0"));
    assert!(covers(&all, b"a", b"\0"));
    assert!(covers(&all, b"\0", b""));
    assert!(!covers(&all, b"", b""));
    // "" .. "\0": really every key.
    let everything = set(&[(b"", b"\0")]);
    assert!(covers(&everything, b"", b"\0"));
    assert!(covers(&everything, b"", b""));
}

#[test]
fn finite_range_is_half_open() {
    let s = set(&[(b"a", b"c")]);
    assert!(covers(&s, b"a", b"c"));
    assert!(covers(&s, b"a", b""));
    assert!(covers(&s, b"b", b"bz"));
    assert!(covers(&s, b"bzzzz", b""));
    assert!(covers(&s, b"b\xff\xff", b"c"));
    assert!(!covers(&s, b"c", b""), "the end is excluded");
    assert!(!covers(&s, b"b", b"c\0"));
    assert!(!covers(&s, b"\xff", b""));
    assert!(!covers(&s, b"", b""));
    assert!(!covers(&s, b"a", b"\0"));
}

#[test]
fn range_end_at_or_before_key_names_no_key() {
    assert_eq!(Interval::from_etcd(b"b", b"a"), None);
    assert_eq!(Interval::from_etcd(b"b", b"b"), None);
    assert_eq!(Interval::from_etcd(b"bb", b"b"), None);
    assert_eq!(Interval::from_etcd(b"b", b"\0\0"), None, "only a lone zero byte means from-key");
    assert!(Interval::from_etcd(b"b", b"b\0").is_some());
    assert!(Interval::from_etcd(b"b", b"\0").is_some());
    assert!(Interval::from_etcd(b"", b"\0\0").is_some());
}

#[test]
fn inverted_request_is_judged_as_its_start_key() {
    let s = set(&[(b"b", b"")]);
    assert!(covers(&s, b"b", b"a"));
    assert!(covers(&s, b"b", b"b"));
    assert!(!covers(&s, b"c", b"a"));
    assert!(!covers(&IntervalSet::default(), b"b", b"a"));
}

// ---------------------------------------------------------------------------------
// IntervalSet

#[test]
fn empty_set_covers_nothing() {
    let s = IntervalSet::new([]);
    assert_eq!(s, IntervalSet::default());
    assert!(!covers(&s, b"", b""));
    assert!(!covers(&s, b"a", b""));
    assert!(!covers(&s, b"\0", b"\0"));
}

#[test]
fn overlapping_intervals_merge() {
    let s = set(&[(b"a", b"c"), (b"b", b"d")]);
    assert_eq!(s, set(&[(b"a", b"d")]));
    assert!(covers(&s, b"a", b"d"));
    assert!(covers(&s, b"b\xff", b"c\x01"));
    assert!(!covers(&s, b"a", b"d\0"));
}

#[test]
fn touching_intervals_merge() {
    let s = set(&[(b"c", b"e"), (b"a", b"c")]);
    assert_eq!(s, set(&[(b"a", b"e")]));
    assert!(covers(&s, b"b", b"d"));
    // A single key touching the end of a range: [a, b) + [b, b\0) = [a, b\0).
    let s = set(&[(b"a", b"b"), (b"b", b"")]);
    assert_eq!(s, set(&[(b"a", b"b\0")]));
    assert!(covers(&s, b"a", b"b\0"));
    assert!(!covers(&s, b"a", b"b\0\0"));
    // Adjacent single keys: {a} + {a\0} = [a, a\0\0).
    let s = set(&[(b"a\0", b""), (b"a", b"")]);
    assert_eq!(s, set(&[(b"a", b"a\0\0")]));
}

#[test]
fn nested_intervals_merge_into_the_outer_one() {
    let s = set(&[(b"a", b"z"), (b"c", b"d"), (b"m", b""), (b"a", b"b")]);
    assert_eq!(s, set(&[(b"a", b"z")]));
    assert!(covers(&s, b"a", b"z"));
    // The nested one comes first in sort order (same start, shorter end) and must not
    // shrink the outer one.
    let s = set(&[(b"a", b"b"), (b"a", b"z")]);
    assert_eq!(s, set(&[(b"a", b"z")]));
    assert!(covers(&s, b"x", b""));
}

#[test]
fn infinite_end_absorbs_everything_after_it() {
    let s = set(&[(b"m", b"\0"), (b"p", b"q"), (b"x", b""), (b"k", b"n")]);
    assert_eq!(s, set(&[(b"k", b"\0")]));
    assert!(covers(&s, b"k", b"\0"));
    assert!(covers(&s, b"\xff\xff", b""));
    assert!(!covers(&s, b"j\xff", b"\0"));
    // Two infinite ones: the earlier start wins.
    assert_eq!(set(&[(b"c", b"\0"), (b"b", b"\0")]), set(&[(b"b", b"\0")]));
    // A finite interval ending exactly where an infinite one starts.
    assert_eq!(set(&[(b"c", b"\0"), (b"a", b"c")]), set(&[(b"a", b"\0")]));
}

#[test]
fn disjoint_pieces_stay_apart() {
    let s = set(&[(b"x", b""), (b"a", b"c"), (b"e", b"g"), (b"c\0", b"d")]);
    assert_ne!(s, set(&[(b"a", b"g"), (b"x", b"")]));
    let pieces: [(&[u8], &[u8]); 5] = [(b"a", b"c"), (b"c\0", b"d"), (b"e", b"g"), (b"x", b""), (b"f", b"")];
    for (k, e) in pieces {
        assert!(covers(&s, k, e), "{k:?}..{e:?}");
    }
    // The gap holding only the key "c" between [a, c) and [c\0, d).
    assert!(!covers(&s, b"c", b""));
    assert!(!covers(&s, b"b", b"c\0"));
    assert!(!covers(&s, b"a", b"d"));
    // Gaps [d, e) and [g, x) and after x.
    assert!(!covers(&s, b"d", b""));
    assert!(!covers(&s, b"c\0", b"e"));
    assert!(!covers(&s, b"f", b"h"));
    assert!(!covers(&s, b"g", b""));
    assert!(!covers(&s, b"x", b"\0"));
    assert!(!covers(&s, b"a", b"\0"));
    // Before the first piece.
    assert!(!covers(&s, b"", b""));
    assert!(!covers(&s, b"\0", b"b"));
}

#[test]
fn union_split_among_grants_covers_across_the_seam() {
    // The module's example: [a, c) + [c, e) + {x}.
    let s = set(&[(b"a", b"c"), (b"c", b"e"), (b"x", b"")]);
    assert!(covers(&s, b"b", b"d"));
    assert!(!covers(&s, b"d", b"f"));
    assert!(covers(&s, b"x", b""));
    assert!(!covers(&s, b"y", b""));
}

#[test]
fn order_of_intervals_does_not_matter() {
    let a: Vec<(&[u8], &[u8])> = vec![(b"q", b""), (b"a", b"c"), (b"b", b"\0"), (b"0", b"1")];
    let mut b = a.clone();
    b.reverse();
    assert_eq!(set(&a), set(&b));
    assert_eq!(set(&a), set(&[(b"0", b"1"), (b"a", b"\0")]));
}

#[test]
fn duplicates_collapse() {
    assert_eq!(set(&[(b"a", b"b"), (b"a", b"b"), (b"a", b"b")]), set(&[(b"a", b"b")]));
}

// ---------------------------------------------------------------------------------
// Odds and ends of the module

#[test]
fn sorted_dedups_and_orders_names() {
    let names = ["b", "a", "c", "a", "B"].map(String::from);
    assert_eq!(sorted(names), ["B", "a", "b", "c"].map(String::from).to_vec());
    assert!(sorted(Vec::<String>::new()).is_empty());
}

#[test]
fn perm_kind_uses_etcds_numbers() {
    for (kind, n) in [(PermKind::Read, 0), (PermKind::Write, 1), (PermKind::ReadWrite, 2)] {
        assert_eq!(kind.to_pb(), n);
        assert_eq!(PermKind::from_pb(n), Some(kind));
    }
    assert_eq!(PermKind::from_pb(3), None);
    assert_eq!(PermKind::from_pb(-1), None);
    assert!(PermKind::Read.reads() && !PermKind::Read.writes());
    assert!(!PermKind::Write.reads() && PermKind::Write.writes());
    assert!(PermKind::ReadWrite.reads() && PermKind::ReadWrite.writes());
}

// ---------------------------------------------------------------------------------
// Property: covers_request against a point-by-point model.
//
// Keys and range ends are drawn from strings of length 0..=3 over {0, 'a', 'b', 'c'};
// the model checks every string of length 0..=4 over that alphabet (the universe U,
// 341 strings). That is exact, not an approximation, for these inputs:
//
// Let B be every endpoint the inputs name: each key, each finite range end, and
// `key ++ [0]` for each single key (the end of its interval). Every point of B has
// length <= 4, so B is a subset of U. Whether a string x lies in an interval
// [s, e) (or [s, inf)) depends only on the predicates `s <= x` and `e <= x`, that is
// on which points of B are <= x. Suppose some x in the request range is in no
// permission. Let b be the greatest point of B with b <= x (the request's start is
// in B and <= x, so b exists). For every p in B, p <= b iff p <= x (p <= x implies
// p <= b by b's maximality; p <= b <= x the other way). So b answers every
// membership question as x does: b is in the request range and in no permission,
// and b is in U. Hence "every string of U in the request is covered" implies "every
// byte string in the request is covered"; the converse is trivial.
//
// (Strings of length 4 matter: with the single key "aaa" granted, the request
// [aaa, aab) is not covered because of "aaa\0", which has length 4.)

const ALPHABET: [u8; 4] = [0, b'a', b'b', b'c'];

static UNIVERSE: LazyLock<Vec<Vec<u8>>> = LazyLock::new(universe);

fn universe() -> Vec<Vec<u8>> {
    let mut all = vec![Vec::new()];
    let mut layer = vec![Vec::new()];
    for _ in 0..4 {
        layer = layer
            .iter()
            .flat_map(|k: &Vec<u8>| {
                ALPHABET.iter().map(move |&c| {
                    let mut next = k.clone();
                    next.push(c);
                    next
                })
            })
            .collect();
        all.extend(layer.iter().cloned());
    }
    all
}

/// Whether `x` is one of the keys etcd's (key, range_end) names.
fn in_etcd_range(x: &[u8], key: &[u8], range_end: &[u8]) -> bool {
    if range_end.is_empty() {
        x == key
    } else if range_end == [0] {
        x >= key
    } else {
        key <= x && x < range_end
    }
}

fn model_covers(perms: &[(Vec<u8>, Vec<u8>)], key: &[u8], range_end: &[u8], universe: &[Vec<u8>]) -> bool {
    // A request naming no key is judged as its start key alone.
    let inverted = !range_end.is_empty() && range_end != [0] && range_end <= key;
    let range_end: &[u8] = if inverted { &[] } else { range_end };
    universe
        .iter()
        .filter(|x| in_etcd_range(x, key, range_end))
        .all(|x| perms.iter().any(|(k, e)| in_etcd_range(x, k, e)))
}

fn small_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..=3)
}

/// A range end: single key, from-key, or any small string (possibly at or before
/// the key, possibly empty or "\0" again).
fn small_range_end() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => Just(vec![0]),
        4 => small_key(),
    ]
}

fn small_range() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (small_key(), small_range_end())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn covers_request_matches_point_model(
        perms in prop::collection::vec(small_range(), 0..6),
        requests in prop::collection::vec(small_range(), 1..8),
    ) {
        let set = IntervalSet::new(perms.iter().filter_map(|(k, e)| Interval::from_etcd(k, e)));
        let mut reversed = perms.clone();
        reversed.reverse();
        let set_rev = IntervalSet::new(reversed.iter().filter_map(|(k, e)| Interval::from_etcd(k, e)));
        prop_assert_eq!(&set, &set_rev, "merging depends on order");
        for (key, range_end) in &requests {
            let want = model_covers(&perms, key, range_end, &UNIVERSE);
            prop_assert_eq!(
                covers_request(&set, key, range_end),
                want,
                "perms {:?} request {:?}..{:?} merged {:?}",
                perms,
                key,
                range_end,
                set
            );
        }
    }
}

#[test]
fn universe_is_every_string_up_to_length_four() {
    let u = universe();
    assert_eq!(u.len(), 1 + 4 + 16 + 64 + 256);
    let distinct: std::collections::BTreeSet<_> = u.iter().collect();
    assert_eq!(distinct.len(), u.len());
    assert!(u.iter().all(|k| k.len() <= 4));
}

#[test]
fn model_sees_the_length_four_gap() {
    // The example of the exactness argument, checked against both.
    let u = universe();
    let perms = vec![(b"aaa".to_vec(), Vec::new())];
    assert!(!model_covers(&perms, b"aaa", b"aab", &u));
    assert!(!covers(&set(&[(b"aaa", b"")]), b"aaa", b"aab"));
    assert!(model_covers(&perms, b"aaa", b"aaa\0", &u));
}
