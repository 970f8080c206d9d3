//! The member-local table of simple tokens: issue, lookup, expiry after the TTL since
//! the last use, sweeps, invalidation; and the token format.

use std::collections::BTreeSet;

use super::{new_simple_token, SimpleTokens, DEFAULT_TOKEN_TTL_S};

const TTL: u64 = 1_000;

fn table(tokens: &[(&str, &str)]) -> SimpleTokens {
    let mut t = SimpleTokens::new();
    for (token, user) in tokens {
        t.issue(token.to_string(), user.to_string());
    }
    t
}

#[test]
fn new_table_is_empty() {
    let mut t = SimpleTokens::new();
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert_eq!(t.user_of("anything", 0, TTL), None);
    assert_eq!(DEFAULT_TOKEN_TTL_S, 300);
}

#[test]
fn issued_token_stands_for_its_user() {
    let mut t = table(&[("t1", "alice"), ("t2", "bob"), ("t3", "alice")]);
    assert_eq!(t.len(), 3);
    assert!(!t.is_empty());
    assert_eq!(t.user_of("t1", 0, TTL).as_deref(), Some("alice"));
    assert_eq!(t.user_of("t2", 0, TTL).as_deref(), Some("bob"));
    assert_eq!(t.user_of("t3", 0, TTL).as_deref(), Some("alice"));
    assert_eq!(t.user_of("t4", 0, TTL), None);
    assert_eq!(t.user_of("", 0, TTL), None);
    assert_eq!(t.len(), 3, "lookups of unknown tokens change nothing");
}

#[test]
fn reissuing_a_token_replaces_its_user() {
    let mut t = table(&[("t", "alice"), ("t", "bob")]);
    assert_eq!(t.len(), 1);
    assert_eq!(t.user_of("t", 0, TTL).as_deref(), Some("bob"));
}

#[test]
fn never_used_never_swept_token_has_no_deadline() {
    // Apply has no clock: an issued token lives until a sweep or a use starts it.
    let mut t = table(&[("t", "alice")]);
    assert_eq!(t.user_of("t", 1_000_000_000, TTL).as_deref(), Some("alice"));
}

#[test]
fn use_starts_the_clock_and_token_expires_ttl_after_last_use() {
    let mut t = table(&[("t", "alice")]);
    assert_eq!(t.user_of("t", 5_000, TTL).as_deref(), Some("alice"));
    // Deadline 6_000: alive just before, gone at it.
    assert_eq!(t.user_of("t", 5_999, TTL).as_deref(), Some("alice"));
    // That use moved the deadline to 6_999.
    assert_eq!(t.user_of("t", 6_998, TTL).as_deref(), Some("alice"));
    assert_eq!(t.user_of("t", 7_998, TTL), None, "deadline 7_998 reached");
    assert_eq!(t.len(), 0, "an expired token is dropped when seen");
    assert_eq!(t.user_of("t", 0, TTL), None, "and stays gone");
}

#[test]
fn use_at_the_deadline_is_too_late() {
    let mut t = table(&[("t", "alice")]);
    t.user_of("t", 0, TTL);
    assert_eq!(t.user_of("t", TTL as i64, TTL), None);
}

#[test]
fn each_use_refreshes_so_a_busy_token_lives_forever() {
    let mut t = table(&[("t", "alice")]);
    for i in 0..100 {
        let now = i * (TTL as i64 - 1);
        assert_eq!(t.user_of("t", now, TTL).as_deref(), Some("alice"), "use {i} at {now}");
        t.sweep(now, TTL);
    }
}

#[test]
fn expiry_of_one_token_leaves_the_others() {
    let mut t = table(&[("a", "alice"), ("b", "bob")]);
    t.user_of("a", 0, TTL);
    t.user_of("b", 500, TTL);
    assert_eq!(t.user_of("a", 1_200, TTL), None);
    assert_eq!(t.user_of("b", 1_200, TTL).as_deref(), Some("bob"));
    assert_eq!(t.len(), 1);
}

#[test]
fn sweep_starts_the_clock_of_never_used_tokens() {
    let mut t = table(&[("t", "alice")]);
    t.sweep(10_000, TTL);
    assert_eq!(t.len(), 1, "a fresh token survives its first sweep");
    t.sweep(10_999, TTL);
    assert_eq!(t.len(), 1, "before the deadline");
    t.sweep(11_000, TTL);
    assert!(t.is_empty(), "a token never used expires TTL after the first sweep");
}

#[test]
fn a_second_sweep_does_not_restart_the_clock() {
    let mut t = table(&[("t", "alice")]);
    t.sweep(0, TTL);
    t.sweep(900, TTL);
    assert_eq!(t.user_of("t", 1_000, TTL), None, "deadline 1_000 was set by the first sweep only");
}

#[test]
fn sweep_drops_only_expired_tokens() {
    let mut t = table(&[("old", "alice"), ("used", "bob")]);
    t.sweep(0, TTL); // both: deadline 1_000
    t.issue("new".into(), "carol".into()); // no deadline yet
    assert_eq!(t.user_of("used", 900, TTL).as_deref(), Some("bob")); // deadline 1_900
    t.sweep(1_000, TTL); // drops "old", starts "new" at 2_000
    assert_eq!(t.len(), 2);
    assert_eq!(t.user_of("old", 1_000, TTL), None);
    assert_eq!(t.user_of("used", 1_899, TTL).as_deref(), Some("bob")); // deadline 2_899
    t.sweep(2_000, TTL); // drops "new"
    assert_eq!(t.len(), 1);
    assert_eq!(t.user_of("new", 2_000, TTL), None);
    assert_eq!(t.user_of("used", 2_000, TTL).as_deref(), Some("bob"));
}

#[test]
fn sweep_uses_the_ttl_it_is_given() {
    let mut t = table(&[("t", "alice")]);
    t.sweep(0, 5_000);
    t.sweep(4_999, TTL);
    assert_eq!(t.len(), 1, "the deadline is fixed when set, not recomputed with a later TTL");
    t.sweep(5_000, TTL);
    assert!(t.is_empty());
}

#[test]
fn zero_ttl_expires_at_the_next_look() {
    let mut t = table(&[("t", "alice")]);
    assert_eq!(t.user_of("t", 7, 0).as_deref(), Some("alice"));
    assert_eq!(t.user_of("t", 7, 0), None);
}

#[test]
fn huge_ttl_and_clock_saturate_instead_of_overflowing() {
    let mut t = table(&[("t", "alice")]);
    assert_eq!(t.user_of("t", i64::MAX - 10, u64::MAX).as_deref(), Some("alice"));
    assert_eq!(t.user_of("t", i64::MAX - 1, u64::MAX).as_deref(), Some("alice"));
    t.sweep(i64::MAX - 1, u64::MAX);
    assert_eq!(t.len(), 1);
    // Negative clocks (a monotonic clock may start anywhere) work too.
    let mut t = table(&[("t", "alice")]);
    t.sweep(-5_000, TTL);
    assert_eq!(t.user_of("t", -4_001, TTL).as_deref(), Some("alice"));
    assert_eq!(t.user_of("t", -3_001, TTL), None);
}

#[test]
fn invalidate_user_forgets_all_and_only_that_users_tokens() {
    let mut t = table(&[("a1", "alice"), ("b1", "bob"), ("a2", "alice"), ("x", "alice2")]);
    t.invalidate_user("alice");
    assert_eq!(t.len(), 2);
    assert_eq!(t.user_of("a1", 0, TTL), None);
    assert_eq!(t.user_of("a2", 0, TTL), None);
    assert_eq!(t.user_of("b1", 0, TTL).as_deref(), Some("bob"));
    assert_eq!(t.user_of("x", 0, TTL).as_deref(), Some("alice2"), "exact names only");
    t.invalidate_user("nobody");
    assert_eq!(t.len(), 2);
    // The user may authenticate again.
    t.issue("a3".into(), "alice".into());
    assert_eq!(t.user_of("a3", 0, TTL).as_deref(), Some("alice"));
}

#[test]
fn clear_forgets_everything() {
    let mut t = table(&[("a", "alice"), ("b", "bob")]);
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.user_of("a", 0, TTL), None);
    assert_eq!(t.user_of("b", 0, TTL), None);
    t.issue("c".into(), "carol".into());
    assert_eq!(t.len(), 1);
}

// ---------------------------------------------------------------------------------
// new_simple_token

/// A deterministic stand-in for env::random (splitmix64).
fn splitmix(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn assert_format(token: &str) {
    assert_eq!(token.len(), 33, "{token}");
    let (letters, rest) = token.split_at(16);
    assert!(letters.bytes().all(|b| b.is_ascii_alphabetic()), "{token}");
    let hex = rest.strip_prefix('.').unwrap_or_else(|| panic!("no dot after 16 letters: {token}"));
    assert_eq!(hex.len(), 16, "{token}");
    assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "lowercase hex: {token}");
}

#[test]
fn token_is_sixteen_letters_a_dot_and_sixteen_hex_digits() {
    for seed in 0..200 {
        assert_format(&new_simple_token(splitmix(seed)));
    }
    assert_format(&new_simple_token(|| 0));
    assert_format(&new_simple_token(|| u64::MAX));
}

#[test]
fn token_is_built_from_the_random_numbers_in_order() {
    // 16 draws pick letters (mod 52 over a..zA..Z), the 17th is the hex part.
    let mut n = 0u64;
    let token = new_simple_token(|| {
        n += 1;
        if n <= 16 {
            n - 1
        } else {
            0x0123_4567_89ab_cdef
        }
    });
    assert_eq!(token, "abcdefghijklmnop.0123456789abcdef");
    assert_eq!(n, 17, "exactly 17 random numbers");
    assert_eq!(new_simple_token(|| 0), "aaaaaaaaaaaaaaaa.0000000000000000");
    assert_eq!(new_simple_token(|| 51), "ZZZZZZZZZZZZZZZZ.0000000000000033");
    assert_eq!(new_simple_token(|| 52 + 26), "AAAAAAAAAAAAAAAA.000000000000004e");
    // Small hex values keep their leading zeros.
    let mut n = 0;
    let token = new_simple_token(|| {
        n += 1;
        if n <= 16 {
            0
        } else {
            1
        }
    });
    assert_eq!(token, "aaaaaaaaaaaaaaaa.0000000000000001");
}

#[test]
fn different_random_inputs_give_different_tokens() {
    let tokens: BTreeSet<String> = (0..1_000).map(|seed| new_simple_token(splitmix(seed))).collect();
    assert_eq!(tokens.len(), 1_000);
    // Same random inputs, same token (deterministic, as the simulation needs).
    assert_eq!(new_simple_token(splitmix(42)), new_simple_token(splitmix(42)));
    // A change in the last draw alone (the hex part) changes the token.
    let draws = |last: u64| {
        let mut n = 0;
        new_simple_token(move || {
            n += 1;
            if n <= 16 {
                7
            } else {
                last
            }
        })
    };
    assert_ne!(draws(1), draws(2));
}
