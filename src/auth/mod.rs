//! Auth (etcd's auth store), sans I/O: users, roles, key permissions, the auth
//! revision, and the checks every request passes when auth is enabled.
//!
//! Owns:
//! - [`AuthStore`], replicated: enabled flag, auth revision, users (bcrypt hash or no
//!   password, granted roles), roles (key permissions). Changed only by
//!   [`AuthRequest`]s applied in log order; part of every snapshot.
//! - [`AuthStore::check`]: whether an identity may do a request, judged against the
//!   store as it is when the request applies (never when it arrived).
//! - [`SimpleTokens`]: the member-local table of etcd's "simple" tokens (not
//!   replicated state: issued at apply, forgotten on restart, expire after a TTL).
//!
//! Does not own: hashing or checking passwords (bcrypt is slow; the service layer
//! hashes before proposing, so every member stores the same hash), JWT signing,
//! reading tokens from requests.
//!
//! # Identity and revisions
//!
//! Every client request enters the log with the identity it was made with
//! ([`AuthInfo`]: user name, and the auth revision when its token was checked). At
//! apply, with auth enabled: no user → "user name is empty"; an identity older than the
//! store's revision → "revision of auth store is old" (the client retries with a fresh
//! token); then the permissions, merged over the user's roles, must cover every key
//! range the request reads or writes (see [`perm`]).
//!
//! ```text
//! rev 5  RoleGrantPermission(r, read [a, b))     auth revision 5 -> 6
//! rev 6  user u (role r) Range [a, a1)  identity rev 6   ok
//! rev 6  RoleRevokePermission(r, a, b)           auth revision 6 -> 7
//! rev 6  Range [a, a1) with identity rev 6       "revision of auth store is old"
//! rev 6  retried, identity rev 7                 "permission denied"
//! ```

mod check;
pub mod perm;
mod store;
mod tokens;

#[cfg(test)]
mod perm_test;
#[cfg(test)]
mod store_test;
#[cfg(test)]
mod tokens_test;

use serde::{Deserialize, Serialize};

pub use check::txn_accesses;
pub use check::{check_request, Access};
pub use store::TokenEffect;
pub use store::{AuthStore, Role, User};
pub use tokens::{new_simple_token, SimpleTokens, DEFAULT_TOKEN_TTL_S};

/// The user named `root` may always do everything, once it holds the role `root`.
pub const ROOT_USER: &str = "root";
/// The role that grants every permission and every admin operation.
pub const ROOT_ROLE: &str = "root";

/// Who made a request, as the service layer found out (token or certificate).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfo {
    /// Empty: no identity (no token, no certificate, or auth was off).
    pub user: String,
    /// The auth revision when the identity was established.
    pub revision: u64,
}

/// etcd's `authpb.Permission.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermKind {
    Read,
    Write,
    ReadWrite,
}

impl PermKind {
    pub fn from_pb(t: i32) -> Option<PermKind> {
        match t {
            0 => Some(PermKind::Read),
            1 => Some(PermKind::Write),
            2 => Some(PermKind::ReadWrite),
            _ => None,
        }
    }

    pub fn to_pb(self) -> i32 {
        match self {
            PermKind::Read => 0,
            PermKind::Write => 1,
            PermKind::ReadWrite => 2,
        }
    }

    fn reads(self) -> bool {
        matches!(self, PermKind::Read | PermKind::ReadWrite)
    }

    fn writes(self) -> bool {
        matches!(self, PermKind::Write | PermKind::ReadWrite)
    }
}

/// A role's access to a key or range, in etcd's (key, range_end) form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub kind: PermKind,
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
}

/// A change to the auth store, proposed through raft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthRequest {
    Enable,
    Disable,
    /// `password_hash`: bcrypt, made by the member that took the request; `None` for
    /// a user added with `no_password`.
    UserAdd {
        name: String,
        password_hash: Option<String>,
    },
    UserDelete {
        name: String,
    },
    UserChangePassword {
        name: String,
        password_hash: String,
    },
    UserGrantRole {
        user: String,
        role: String,
    },
    UserRevokeRole {
        user: String,
        role: String,
    },
    RoleAdd {
        name: String,
    },
    RoleDelete {
        name: String,
    },
    RoleGrantPermission {
        role: String,
        perm: Permission,
    },
    RoleRevokePermission {
        role: String,
        key: Vec<u8>,
        range_end: Vec<u8>,
    },
    /// A user authenticated (password checked by the member that took it, against
    /// the store at auth revision `checked_at`). `token`: the simple token every
    /// member registers; empty when tokens are JWTs. Refused with "revision of auth
    /// store is old" if the store changed since the check (a password changed in
    /// between must not let the old one in); the member checks again and retries.
    Authenticate {
        name: String,
        token: String,
        checked_at: u64,
    },
}

impl AuthRequest {
    /// Only root may make this change once auth is on.
    pub fn needs_admin(&self) -> bool {
        !matches!(self, AuthRequest::Authenticate { .. })
    }
}
