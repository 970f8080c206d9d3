//! Deliberate bugs, to prove the simulator catches them (`ci/sim-mutants`).
//!
//! This module exists only under `--cfg madsim`. One simulation build carries every
//! mutant; the harness picks at most one at run time ([`set`], from `SIM_MUTANT`).
//! Call sites use the [`mutant!`](crate::mutant) macro, which is the constant `false`
//! in a normal build: there is no switch, and the mutated branches are dead code the
//! compiler drops.

use std::sync::atomic::{AtomicU8, Ordering};

macro_rules! catalogue {
    ($($variant:ident = $name:literal: $what:literal,)*) => {
        /// One deliberate bug.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Mutant {
            $($variant,)*
        }

        /// Every mutant, in catalogue order.
        pub const ALL: &[Mutant] = &[$(Mutant::$variant,)*];

        impl Mutant {
            /// The name `SIM_MUTANT` takes.
            pub fn name(self) -> &'static str {
                match self {
                    $(Mutant::$variant => $name,)*
                }
            }

            /// What the bug does.
            pub fn describe(self) -> &'static str {
                match self {
                    $(Mutant::$variant => $what,)*
                }
            }
        }
    };
}

catalogue! {
    AckBeforeFsync = "ack-before-fsync":
        "the WAL reports a batch durable without fdatasync",
    ReadWithoutReadIndex = "read-without-read-index":
        "a linearizable read is served from local state, without ReadIndex",
    SkipCrcOnReplay = "skip-crc-on-replay":
        "WAL replay accepts records whose CRC does not match",
    ApplyUncommitted = "apply-uncommitted":
        "entries are applied when appended to the log, before they commit",
    ForgetVote = "forget-vote":
        "a restarted member forgets the vote (and term) it persisted",
    LeaderRestore = "leader-restore":
        "a restarted leader resumes its old term without an election",
    DropWatchEvent = "drop-watch-event":
        "live watch delivery silently skips every 16th revision",
    DuplicateAfterReconnect = "duplicate-after-reconnect":
        "a watch resumed at revision R also replays revision R-1",
    FollowerExpiresLeases = "follower-expires-leases":
        "every member's lessor expires leases by its own clock, followers included",
    KeepAliveNoExtend = "keepalive-no-extend":
        "KeepAlive answers with the TTL but does not extend the lease",
    AuthSkipTxnElse = "auth-skip-txn-else":
        "a txn's permission check ignores the ops of its else (failure) branch",
    AuthCheckAtArrival = "auth-check-at-arrival":
        "writes are judged against the auth state when they reach the server, not where they apply",
    AcceptPutUnderNospace = "accept-put-under-nospace":
        "a put is applied while a NOSPACE alarm stands",
}

impl Mutant {
    pub fn from_name(name: &str) -> Option<Mutant> {
        ALL.iter().copied().find(|m| m.name() == name)
    }
}

/// 0: none; otherwise the catalogue index + 1.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// Choose the mutant for this process (None: the store as written).
pub fn set(mutant: Option<Mutant>) {
    let code = mutant.map(|m| ALL.iter().position(|x| *x == m).unwrap_or(0) as u8 + 1).unwrap_or(0);
    ACTIVE.store(code, Ordering::Relaxed);
}

/// The active mutant, if any.
pub fn active() -> Option<Mutant> {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => None,
        code => ALL.get(code as usize - 1).copied(),
    }
}

/// Whether `mutant` is the active one.
pub fn is(mutant: Mutant) -> bool {
    active() == Some(mutant)
}
