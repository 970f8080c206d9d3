//! etcd's "simple" tokens: opaque strings a member maps to a user name.
//!
//! A token is issued when its Authenticate entry applies, on every member alike, so a
//! client may use it with any member. The table is member-local and not part of
//! snapshots: a member that restarts, or installs a snapshot, forgets its tokens, and
//! clients holding one get "invalid auth token" and authenticate again (as with etcd).
//!
//! Expiry: a token lives `ttl_ms` after its last use. Apply has no clock, so a newly
//! issued token has no deadline until the first [`SimpleTokens::sweep`] or use sets
//! one; a sweep runs every second, so a token never used expires within `ttl_ms` plus
//! one sweep of its issue.

use std::collections::HashMap;

/// etcd's default `--auth-token-ttl`, in seconds.
pub const DEFAULT_TOKEN_TTL_S: u64 = 300;

#[derive(Debug)]
struct Entry {
    user: String,
    /// On the caller's monotonic clock; `None` until first seen by a sweep or a use.
    deadline_ms: Option<i64>,
}

/// The table. The TTL is the caller's (`--auth-token-ttl`), passed to each use and
/// sweep, so that a table rebuilt from a snapshot needs no configuring.
#[derive(Debug, Default)]
pub struct SimpleTokens {
    tokens: HashMap<String, Entry>,
}

fn deadline(now_ms: i64, ttl_ms: u64) -> i64 {
    now_ms.saturating_add(ttl_ms.min(i64::MAX as u64) as i64)
}

impl SimpleTokens {
    pub fn new() -> Self {
        SimpleTokens::default()
    }

    pub fn issue(&mut self, token: String, user: String) {
        self.tokens.insert(token, Entry { user, deadline_ms: None });
    }

    /// The user a live token stands for; a use extends its life by the TTL.
    pub fn user_of(&mut self, token: &str, now_ms: i64, ttl_ms: u64) -> Option<String> {
        let entry = self.tokens.get_mut(token)?;
        if entry.deadline_ms.is_some_and(|d| d <= now_ms) {
            self.tokens.remove(token);
            return None;
        }
        entry.deadline_ms = Some(deadline(now_ms, ttl_ms));
        Some(entry.user.clone())
    }

    pub fn invalidate_user(&mut self, user: &str) {
        self.tokens.retain(|_, e| e.user != user);
    }

    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    /// Drop expired tokens; start the clock of newly issued ones.
    pub fn sweep(&mut self, now_ms: i64, ttl_ms: u64) {
        self.tokens.retain(|_, e| match e.deadline_ms {
            None => {
                e.deadline_ms = Some(deadline(now_ms, ttl_ms));
                true
            }
            Some(d) => d > now_ms,
        });
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// A fresh token: 16 random letters, a dot and 16 random hex digits (etcd's form is
/// 16 letters, a dot and the raft index; clients treat it as opaque).
pub fn new_simple_token(mut random_u64: impl FnMut() -> u64) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = String::with_capacity(33);
    for _ in 0..16 {
        out.push(LETTERS[(random_u64() % LETTERS.len() as u64) as usize] as char);
    }
    out.push('.');
    out.push_str(&format!("{:016x}", random_u64()));
    out
}
