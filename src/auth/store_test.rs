//! The auth store: every change through `apply` (etcd's errors, the auth revision,
//! token effects, nothing changed on error), snapshots, and the permission check.

use super::perm::UserPerms;
use super::{
    check_request, txn_accesses, Access, AuthInfo, AuthRequest, AuthStore, PermKind, Permission, TokenEffect,
};
use crate::error::Error;
use crate::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};

const HASH: &str = "$2a$04$0123456789012345678901u0123456789012345678901234567890";

// ---------------------------------------------------------------------------------
// Helpers

fn user_add(name: &str) -> AuthRequest {
    AuthRequest::UserAdd { name: name.into(), password_hash: Some(HASH.into()) }
}

fn user_add_no_password(name: &str) -> AuthRequest {
    AuthRequest::UserAdd { name: name.into(), password_hash: None }
}

fn user_delete(name: &str) -> AuthRequest {
    AuthRequest::UserDelete { name: name.into() }
}

fn change_password(name: &str, hash: &str) -> AuthRequest {
    AuthRequest::UserChangePassword { name: name.into(), password_hash: hash.into() }
}

fn grant_role(user: &str, role: &str) -> AuthRequest {
    AuthRequest::UserGrantRole { user: user.into(), role: role.into() }
}

fn revoke_role(user: &str, role: &str) -> AuthRequest {
    AuthRequest::UserRevokeRole { user: user.into(), role: role.into() }
}

fn role_add(name: &str) -> AuthRequest {
    AuthRequest::RoleAdd { name: name.into() }
}

fn role_delete(name: &str) -> AuthRequest {
    AuthRequest::RoleDelete { name: name.into() }
}

fn perm(kind: PermKind, key: &[u8], range_end: &[u8]) -> Permission {
    Permission { kind, key: key.to_vec(), range_end: range_end.to_vec() }
}

fn grant_perm(role: &str, kind: PermKind, key: &[u8], range_end: &[u8]) -> AuthRequest {
    AuthRequest::RoleGrantPermission { role: role.into(), perm: perm(kind, key, range_end) }
}

fn revoke_perm(role: &str, key: &[u8], range_end: &[u8]) -> AuthRequest {
    AuthRequest::RoleRevokePermission { role: role.into(), key: key.to_vec(), range_end: range_end.to_vec() }
}

/// An Authenticate whose password check is yet to be dated: [`dated`] sets
/// `checked_at` to the store's revision when it is applied (a check made just before).
fn authenticate(name: &str, token: &str) -> AuthRequest {
    AuthRequest::Authenticate { name: name.into(), token: token.into(), checked_at: UNDATED }
}

const UNDATED: u64 = u64::MAX;

/// `req`, with an undated Authenticate dated at `s`'s current revision.
fn dated(req: AuthRequest, s: &AuthStore) -> AuthRequest {
    match req {
        AuthRequest::Authenticate { name, token, checked_at: UNDATED } => {
            AuthRequest::Authenticate { name, token, checked_at: s.revision() }
        }
        other => other,
    }
}

/// Every user's merged permissions (the cache `==` on the store does not compare).
fn perms_snapshot(s: &AuthStore) -> Vec<(String, Option<UserPerms>)> {
    s.users().map(|(name, _)| (name.clone(), s.perms_of(name).cloned())).collect()
}

/// Applies `req`, which must succeed and move the revision by exactly `bump`.
#[track_caller]
fn ok(s: &mut AuthStore, req: AuthRequest, bump: u64) -> TokenEffect {
    let req = dated(req, s);
    let before = s.revision();
    let effect = s.apply(&req).unwrap_or_else(|e| panic!("{req:?}: {e:?}"));
    assert_eq!(s.revision(), before + bump, "revision after {req:?}");
    effect
}

/// Applies `req`, which must fail with `err` and change nothing at all.
#[track_caller]
fn rejected(s: &mut AuthStore, req: AuthRequest, err: Error) {
    let req = dated(req, s);
    let before = s.clone();
    let perms_before = perms_snapshot(s);
    assert_eq!(s.apply(&req), Err(err), "{req:?}");
    assert_eq!(*s, before, "{req:?} changed the store");
    assert_eq!(perms_snapshot(s), perms_before, "{req:?} changed the permission cache");
}

/// A store with user root holding role root (no role named root exists), disabled.
fn with_root() -> AuthStore {
    let mut s = AuthStore::new();
    ok(&mut s, user_add("root"), 1);
    ok(&mut s, grant_role("root", "root"), 1);
    s
}

fn enabled() -> AuthStore {
    let mut s = with_root();
    ok(&mut s, AuthRequest::Enable, 0);
    s
}

fn who(s: &AuthStore, user: &str) -> AuthInfo {
    AuthInfo { user: user.into(), revision: s.revision() }
}

fn read<'a>(key: &'a [u8], range_end: &'a [u8]) -> Access<'a> {
    Access::Read { key, range_end }
}

fn write<'a>(key: &'a [u8], range_end: &'a [u8]) -> Access<'a> {
    Access::Write { key, range_end }
}

/// Enabled; role ra: read [a, c); role rb: read [c, e), read-write {x}; role w: write
/// from p on; users u (ra, rb), v (w), n (no roles), nopw (rb, no password).
fn fixture() -> AuthStore {
    let mut s = enabled();
    for r in ["ra", "rb", "w"] {
        ok(&mut s, role_add(r), 1);
    }
    ok(&mut s, grant_perm("ra", PermKind::Read, b"a", b"c"), 1);
    ok(&mut s, grant_perm("rb", PermKind::Read, b"c", b"e"), 1);
    ok(&mut s, grant_perm("rb", PermKind::ReadWrite, b"x", b""), 1);
    ok(&mut s, grant_perm("w", PermKind::Write, b"p", b"\0"), 1);
    for u in ["u", "v", "n"] {
        ok(&mut s, user_add(u), 1);
    }
    ok(&mut s, user_add_no_password("nopw"), 1);
    ok(&mut s, grant_role("u", "ra"), 1);
    ok(&mut s, grant_role("u", "rb"), 1);
    ok(&mut s, grant_role("v", "w"), 1);
    ok(&mut s, grant_role("nopw", "rb"), 1);
    s
}

// ---------------------------------------------------------------------------------
// A new store; the revision over a whole history

#[test]
fn new_store_is_disabled_and_empty_at_revision_one() {
    let s = AuthStore::new();
    assert!(!s.is_enabled());
    assert_eq!(s.revision(), 1);
    assert_eq!(s.users().count(), 0);
    assert_eq!(s.roles().count(), 0);
    assert_eq!(s, AuthStore::new());
    assert_ne!(s, AuthStore::default(), "Default is revision 0, new() is 1");
}

#[test]
fn revision_moves_exactly_on_successful_changes() {
    use Error::*;
    // (request, expected result, bump)
    let steps: Vec<(AuthRequest, Result<TokenEffect, Error>, u64)> = vec![
        (AuthRequest::Enable, Err(RootUserNotExist), 0),
        (user_add("root"), Ok(TokenEffect::None), 1),
        (user_add("root"), Err(UserAlreadyExist), 0),
        (AuthRequest::Enable, Err(RootRoleNotExist), 0),
        (grant_role("root", "root"), Ok(TokenEffect::None), 1),
        (grant_role("root", "root"), Ok(TokenEffect::None), 0), // already granted
        (AuthRequest::Disable, Ok(TokenEffect::None), 0),       // already disabled
        (authenticate("root", "tok"), Err(AuthNotEnabled), 0),
        (AuthRequest::Enable, Ok(TokenEffect::None), 0),
        (AuthRequest::Enable, Ok(TokenEffect::None), 0), // already enabled
        (authenticate("root", "tok"), Ok(TokenEffect::Issue { token: "tok".into(), user: "root".into() }), 0),
        (authenticate("nobody", "tok"), Err(AuthFailed), 0),
        (role_add("r"), Ok(TokenEffect::None), 1),
        (role_add("r"), Err(RoleAlreadyExist), 0),
        (role_add(""), Err(RoleEmpty), 0),
        (grant_perm("r", PermKind::Read, b"a", b"b"), Ok(TokenEffect::None), 1),
        // Granting the same again: etcd rewrites the role and bumps too.
        (grant_perm("r", PermKind::Read, b"a", b"b"), Ok(TokenEffect::None), 1),
        (grant_perm("nope", PermKind::Read, b"a", b"b"), Err(RoleNotFound), 0),
        (user_add("u"), Ok(TokenEffect::None), 1),
        (user_add(""), Err(UserEmpty), 0),
        (grant_role("u", "r"), Ok(TokenEffect::None), 1),
        (grant_role("u", "r"), Ok(TokenEffect::None), 0),
        (grant_role("u", "nope"), Err(RoleNotFound), 0),
        (grant_role("nobody", "r"), Err(UserNotFound), 0),
        (revoke_perm("r", b"a", b"b"), Ok(TokenEffect::None), 1),
        (revoke_perm("r", b"a", b"b"), Err(PermissionNotGranted), 0),
        (revoke_role("u", "r"), Ok(TokenEffect::None), 1),
        (revoke_role("u", "r"), Err(RoleNotGranted), 0),
        (change_password("u", "h2"), Ok(TokenEffect::InvalidateUser("u".into())), 1),
        (change_password("nobody", "h2"), Err(UserNotFound), 0),
        (revoke_role("root", "root"), Err(InvalidAuthMgmt), 0),
        (user_delete("root"), Err(InvalidAuthMgmt), 0),
        (role_delete("root"), Err(InvalidAuthMgmt), 0),
        (role_delete("r"), Ok(TokenEffect::None), 1),
        (role_delete("r"), Err(RoleNotFound), 0),
        (user_delete("u"), Ok(TokenEffect::InvalidateUser("u".into())), 1),
        (user_delete("u"), Err(UserNotFound), 0),
        (AuthRequest::Disable, Ok(TokenEffect::InvalidateAll), 1),
        (AuthRequest::Disable, Ok(TokenEffect::None), 0),
    ];
    let mut s = AuthStore::new();
    for (i, (req, want, bump)) in steps.into_iter().enumerate() {
        let before = s.clone();
        let req = dated(req, &s);
        let got = s.apply(&req);
        assert_eq!(got, want, "step {i}: {req:?}");
        assert_eq!(s.revision(), before.revision() + bump, "step {i}: {req:?}");
        if got.is_err() {
            assert_eq!(s, before, "step {i}: failed {req:?} changed the store");
        }
    }
    assert_eq!(s.revision(), 1 + 13);
}

// ---------------------------------------------------------------------------------
// Users

#[test]
fn user_add_stores_hash_or_no_password() {
    let mut s = AuthStore::new();
    assert_eq!(ok(&mut s, user_add("alice"), 1), TokenEffect::None);
    assert_eq!(ok(&mut s, user_add_no_password("bob"), 1), TokenEffect::None);
    let alice = s.user("alice").expect("alice");
    assert_eq!(alice.password_hash.as_deref(), Some(HASH));
    assert!(alice.roles.is_empty());
    assert_eq!(s.user("bob").expect("bob").password_hash, None);
    assert_eq!(s.user("carol"), None);
    assert_eq!(s.users().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
}

#[test]
fn user_add_errors() {
    let mut s = AuthStore::new();
    rejected(&mut s, user_add(""), Error::UserEmpty);
    rejected(&mut s, user_add_no_password(""), Error::UserEmpty);
    ok(&mut s, user_add("alice"), 1);
    rejected(&mut s, user_add("alice"), Error::UserAlreadyExist);
    rejected(&mut s, user_add_no_password("alice"), Error::UserAlreadyExist);
    assert_eq!(s.user("alice").expect("alice").password_hash.as_deref(), Some(HASH), "not overwritten");
}

#[test]
fn user_delete_forgets_the_user_and_its_tokens() {
    let mut s = fixture();
    assert_eq!(ok(&mut s, user_delete("u"), 1), TokenEffect::InvalidateUser("u".into()));
    assert_eq!(s.user("u"), None);
    assert_eq!(s.perms_of("u"), None);
    assert!(s.role("ra").is_some(), "its roles stay");
    // A fresh identity of the deleted user is unknown now.
    assert_eq!(check_request(&s, &who(&s, "u"), &[read(b"a", b"")]), Err(Error::PermissionDenied));
    rejected(&mut s, user_delete("u"), Error::UserNotFound);
    rejected(&mut s, user_delete(""), Error::UserNotFound);
}

#[test]
fn root_user_cannot_be_deleted_while_enabled_but_can_while_disabled() {
    let mut s = enabled();
    rejected(&mut s, user_delete("root"), Error::InvalidAuthMgmt);
    let mut s = with_root();
    assert_eq!(ok(&mut s, user_delete("root"), 1), TokenEffect::InvalidateUser("root".into()));
    rejected(&mut s, AuthRequest::Enable, Error::RootUserNotExist);
}

#[test]
fn change_password_replaces_the_hash_and_invalidates_tokens() {
    let mut s = fixture();
    let roles = s.user("u").expect("u").roles.clone();
    assert_eq!(ok(&mut s, change_password("u", "$2a$new"), 1), TokenEffect::InvalidateUser("u".into()));
    let u = s.user("u").expect("u");
    assert_eq!(u.password_hash.as_deref(), Some("$2a$new"));
    assert_eq!(u.roles, roles, "roles are kept");
    rejected(&mut s, change_password("nobody", "h"), Error::UserNotFound);
    // Root's password may change while enabled.
    ok(&mut s, change_password("root", "$2a$root"), 1);
}

/// etcd keeps a user added with `no_password` password-less on UserChangePassword
/// (the new password is ignored; `Options.NoPassword` is kept), so it still cannot
/// authenticate with a password. Here the change gives it a password.
#[test]
fn change_password_of_no_password_user_keeps_it_password_less() {
    let mut s = fixture();
    ok(&mut s, change_password("nopw", "$2a$new"), 1);
    assert_eq!(s.user("nopw").expect("nopw").password_hash, None);
    assert_eq!(s.apply(&dated(authenticate("nopw", "t"), &s)), Err(Error::AuthFailed));
}

#[test]
fn grant_role_adds_the_role_once() {
    let mut s = AuthStore::new();
    ok(&mut s, user_add("u"), 1);
    ok(&mut s, role_add("b"), 1);
    ok(&mut s, role_add("a"), 1);
    assert_eq!(ok(&mut s, grant_role("u", "b"), 1), TokenEffect::None);
    assert_eq!(ok(&mut s, grant_role("u", "a"), 1), TokenEffect::None);
    assert!(s.has_role("u", "a") && s.has_role("u", "b"));
    assert!(!s.has_role("u", "c") && !s.has_role("nobody", "a"));
    assert_eq!(s.user("u").expect("u").roles.iter().map(String::as_str).collect::<Vec<_>>(), ["a", "b"]);
    // Granted again: succeeds, changes nothing, no bump.
    let before = s.clone();
    assert_eq!(ok(&mut s, grant_role("u", "a"), 0), TokenEffect::None);
    assert_eq!(s, before);
}

#[test]
fn grant_role_errors() {
    let mut s = AuthStore::new();
    ok(&mut s, user_add("u"), 1);
    ok(&mut s, role_add("r"), 1);
    rejected(&mut s, grant_role("nobody", "r"), Error::UserNotFound);
    rejected(&mut s, grant_role("nobody", "nope"), Error::UserNotFound);
    rejected(&mut s, grant_role("u", "nope"), Error::RoleNotFound);
    rejected(&mut s, grant_role("u", ""), Error::RoleNotFound);
}

#[test]
fn role_root_may_be_granted_without_a_role_named_root() {
    let mut s = AuthStore::new();
    ok(&mut s, user_add("root"), 1);
    ok(&mut s, user_add("admin"), 1);
    assert!(s.role("root").is_none());
    ok(&mut s, grant_role("root", "root"), 1);
    ok(&mut s, grant_role("admin", "root"), 1);
    assert!(s.role("root").is_none(), "granting does not create it");
    assert!(s.has_role("admin", "root"));
    ok(&mut s, AuthRequest::Enable, 0);
    // Any holder of role root may do everything, admin included.
    assert_eq!(check_request(&s, &who(&s, "admin"), &[Access::Admin, write(b"\0", b"\0")]), Ok(()));
    // Only root is special: other missing roles are refused.
    rejected(&mut s, grant_role("admin", "other"), Error::RoleNotFound);
}

#[test]
fn role_root_may_also_exist_as_a_role() {
    let mut s = AuthStore::new();
    ok(&mut s, user_add("root"), 1);
    ok(&mut s, role_add("root"), 1);
    ok(&mut s, grant_role("root", "root"), 1);
    ok(&mut s, AuthRequest::Enable, 0);
    assert_eq!(check_request(&s, &who(&s, "root"), &[Access::Admin, read(b"k", b"")]), Ok(()));
}

#[test]
fn revoke_role_removes_it() {
    let mut s = fixture();
    assert_eq!(ok(&mut s, revoke_role("u", "ra"), 1), TokenEffect::None);
    assert!(!s.has_role("u", "ra"));
    assert!(s.has_role("u", "rb"));
    assert!(s.role("ra").is_some(), "the role itself stays");
    assert_eq!(check_request(&s, &who(&s, "u"), &[read(b"a", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &who(&s, "u"), &[read(b"c", b"")]), Ok(()));
}

#[test]
fn revoke_role_errors() {
    let mut s = fixture();
    rejected(&mut s, revoke_role("nobody", "ra"), Error::UserNotFound);
    rejected(&mut s, revoke_role("v", "ra"), Error::RoleNotGranted);
    rejected(&mut s, revoke_role("u", "nope"), Error::RoleNotGranted);
    rejected(&mut s, revoke_role("n", "root"), Error::RoleNotGranted);
}

#[test]
fn roots_root_role_cannot_be_revoked_while_enabled() {
    let mut s = fixture();
    rejected(&mut s, revoke_role("root", "root"), Error::InvalidAuthMgmt);
    // Other roles of root, and role root of other users, may be revoked.
    ok(&mut s, grant_role("root", "ra"), 1);
    ok(&mut s, revoke_role("root", "ra"), 1);
    ok(&mut s, grant_role("u", "root"), 1);
    ok(&mut s, revoke_role("u", "root"), 1);
    // Disabled: allowed, and then auth cannot be enabled again.
    ok(&mut s, AuthRequest::Disable, 1);
    ok(&mut s, revoke_role("root", "root"), 1);
    rejected(&mut s, AuthRequest::Enable, Error::RootRoleNotExist);
}

// ---------------------------------------------------------------------------------
// Roles

#[test]
fn role_add_creates_an_empty_role() {
    let mut s = AuthStore::new();
    assert_eq!(ok(&mut s, role_add("r"), 1), TokenEffect::None);
    assert_eq!(s.role("r").expect("r").perms, Vec::<Permission>::new());
    ok(&mut s, role_add("root"), 1);
    assert_eq!(s.roles().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["r", "root"]);
    rejected(&mut s, role_add("r"), Error::RoleAlreadyExist);
    rejected(&mut s, role_add(""), Error::RoleEmpty);
}

#[test]
fn role_delete_removes_the_role_from_every_user() {
    let mut s = fixture();
    ok(&mut s, grant_role("v", "rb"), 1);
    assert_eq!(check_request(&s, &who(&s, "v"), &[read(b"c", b"")]), Ok(()));
    assert_eq!(ok(&mut s, role_delete("rb"), 1), TokenEffect::None);
    assert!(s.role("rb").is_none());
    for user in ["u", "v", "nopw"] {
        assert!(!s.has_role(user, "rb"), "{user} still holds rb");
    }
    assert!(s.has_role("u", "ra") && s.has_role("v", "w"), "other roles stay");
    let u = who(&s, "u");
    assert_eq!(check_request(&s, &u, &[read(b"c", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &u, &[read(b"a", b"")]), Ok(()));
    assert_eq!(check_request(&s, &who(&s, "v"), &[read(b"c", b"")]), Err(Error::PermissionDenied));
    // A role added again under the same name starts empty and ungranted.
    ok(&mut s, role_add("rb"), 1);
    assert!(s.role("rb").expect("rb").perms.is_empty());
    assert!(!s.has_role("u", "rb"));
}

#[test]
fn role_delete_errors() {
    let mut s = fixture();
    rejected(&mut s, role_delete("nope"), Error::RoleNotFound);
    rejected(&mut s, role_delete(""), Error::RoleNotFound);
    // Role root while enabled: refused whether it exists as a role or not.
    rejected(&mut s, role_delete("root"), Error::InvalidAuthMgmt);
    ok(&mut s, role_add("root"), 1);
    rejected(&mut s, role_delete("root"), Error::InvalidAuthMgmt);
}

#[test]
fn role_root_may_be_deleted_while_disabled() {
    let mut s = AuthStore::new();
    ok(&mut s, user_add("root"), 1);
    rejected(&mut s, role_delete("root"), Error::RoleNotFound);
    ok(&mut s, role_add("root"), 1);
    ok(&mut s, grant_role("root", "root"), 1);
    ok(&mut s, role_delete("root"), 1);
    assert!(!s.has_role("root", "root"), "taken from the root user too");
    rejected(&mut s, AuthRequest::Enable, Error::RootRoleNotExist);
}

#[test]
fn grant_permission_keeps_perms_sorted_by_key() {
    let mut s = AuthStore::new();
    ok(&mut s, role_add("r"), 1);
    ok(&mut s, grant_perm("r", PermKind::Read, b"m", b""), 1);
    ok(&mut s, grant_perm("r", PermKind::Write, b"a", b"c"), 1);
    ok(&mut s, grant_perm("r", PermKind::ReadWrite, b"z", b"\0"), 1);
    ok(&mut s, grant_perm("r", PermKind::Read, b"a", b""), 1); // same key, other range_end
    let perms = &s.role("r").expect("r").perms;
    let keys: Vec<(&[u8], &[u8])> = perms.iter().map(|p| (&p.key[..], &p.range_end[..])).collect();
    assert_eq!(perms.len(), 4);
    assert_eq!(keys.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [&b"a"[..], b"a", b"m", b"z"]);
    assert!(keys.contains(&(&b"a"[..], &b"c"[..])) && keys.contains(&(&b"a"[..], &b""[..])));
}

#[test]
fn grant_permission_on_same_key_and_range_end_replaces_the_kind() {
    let mut s = fixture();
    ok(&mut s, grant_perm("ra", PermKind::Write, b"a", b"c"), 1);
    assert_eq!(s.role("ra").expect("ra").perms, vec![perm(PermKind::Write, b"a", b"c")]);
    let u = who(&s, "u");
    assert_eq!(check_request(&s, &u, &[read(b"b", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &u, &[write(b"b", b"")]), Ok(()));
    ok(&mut s, grant_perm("ra", PermKind::ReadWrite, b"a", b"c"), 1);
    assert_eq!(s.role("ra").expect("ra").perms, vec![perm(PermKind::ReadWrite, b"a", b"c")]);
    let u = who(&s, "u");
    assert_eq!(check_request(&s, &u, &[read(b"b", b""), write(b"a", b"c")]), Ok(()));
}

#[test]
fn grant_permission_to_missing_role_fails() {
    let mut s = fixture();
    rejected(&mut s, grant_perm("nope", PermKind::Read, b"a", b""), Error::RoleNotFound);
    // Role root is special for grants to users only, not as a role to change.
    rejected(&mut s, grant_perm("root", PermKind::Read, b"a", b""), Error::RoleNotFound);
}

/// etcd (3.5+) refuses a permission naming no key with "invalid auth management":
/// an empty key, or a range_end at or before the key (other than "\0"). Here it is
/// stored (and silently ignored by the checks), and the revision moves.
#[test]
fn grant_permission_naming_no_key_is_refused_as_etcd_does() {
    let mut s = fixture();
    rejected(&mut s, grant_perm("ra", PermKind::Read, b"b", b"a"), Error::InvalidAuthMgmt);
    rejected(&mut s, grant_perm("ra", PermKind::Read, b"b", b"b"), Error::InvalidAuthMgmt);
    rejected(&mut s, grant_perm("ra", PermKind::Read, b"", b""), Error::InvalidAuthMgmt);
    rejected(&mut s, grant_perm("ra", PermKind::Read, b"", b"\0"), Error::InvalidAuthMgmt);
    // The valid forms etcd accepts.
    ok(&mut s, grant_perm("ra", PermKind::Read, b"b", b""), 1);
    ok(&mut s, grant_perm("ra", PermKind::Read, b"b", b"\0"), 1);
    ok(&mut s, grant_perm("ra", PermKind::Read, b"\0", b"\0"), 1);
}

#[test]
fn revoke_permission_needs_exact_key_and_range_end() {
    let mut s = fixture();
    rejected(&mut s, revoke_perm("ra", b"a", b""), Error::PermissionNotGranted);
    rejected(&mut s, revoke_perm("ra", b"a", b"b"), Error::PermissionNotGranted);
    rejected(&mut s, revoke_perm("ra", b"b", b"c"), Error::PermissionNotGranted);
    rejected(&mut s, revoke_perm("nope", b"a", b"c"), Error::RoleNotFound);
    ok(&mut s, grant_perm("ra", PermKind::Write, b"a", b""), 1);
    assert_eq!(ok(&mut s, revoke_perm("ra", b"a", b"c"), 1), TokenEffect::None);
    assert_eq!(s.role("ra").expect("ra").perms, vec![perm(PermKind::Write, b"a", b"")]);
    let u = who(&s, "u");
    assert_eq!(check_request(&s, &u, &[read(b"a", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &u, &[write(b"a", b"")]), Ok(()));
}

// ---------------------------------------------------------------------------------
// Enable, disable, authenticate

#[test]
fn enable_needs_root_user_with_root_role_and_does_not_bump() {
    let mut s = AuthStore::new();
    rejected(&mut s, AuthRequest::Enable, Error::RootUserNotExist);
    ok(&mut s, user_add("root"), 1);
    rejected(&mut s, AuthRequest::Enable, Error::RootRoleNotExist);
    // Role root held by another user is not enough.
    ok(&mut s, user_add("admin"), 1);
    ok(&mut s, grant_role("admin", "root"), 1);
    rejected(&mut s, AuthRequest::Enable, Error::RootRoleNotExist);
    ok(&mut s, grant_role("root", "root"), 1);
    assert_eq!(ok(&mut s, AuthRequest::Enable, 0), TokenEffect::None);
    assert!(s.is_enabled());
    let before = s.clone();
    assert_eq!(ok(&mut s, AuthRequest::Enable, 0), TokenEffect::None);
    assert_eq!(s, before);
}

#[test]
fn identity_made_before_enable_stays_current() {
    let mut s = with_root();
    let root = who(&s, "root");
    ok(&mut s, AuthRequest::Enable, 0);
    assert_eq!(check_request(&s, &root, &[read(b"k", b"")]), Ok(()));
}

#[test]
fn disable_bumps_and_invalidates_all_tokens_only_when_enabled() {
    let mut s = AuthStore::new();
    let before = s.clone();
    assert_eq!(ok(&mut s, AuthRequest::Disable, 0), TokenEffect::None);
    assert_eq!(s, before);
    let mut s = enabled();
    assert_eq!(ok(&mut s, AuthRequest::Disable, 1), TokenEffect::InvalidateAll);
    assert!(!s.is_enabled());
    assert!(s.user("root").is_some(), "users and roles stay");
    // Enabled again, without a bump.
    ok(&mut s, AuthRequest::Enable, 0);
}

#[test]
fn authenticate_issues_the_token_and_changes_nothing() {
    let mut s = fixture();
    let before = s.clone();
    assert_eq!(
        ok(&mut s, authenticate("u", "abc.123"), 0),
        TokenEffect::Issue { token: "abc.123".into(), user: "u".into() }
    );
    // JWT: no token to register.
    assert_eq!(ok(&mut s, authenticate("u", ""), 0), TokenEffect::None);
    assert_eq!(
        ok(&mut s, authenticate("root", "t"), 0),
        TokenEffect::Issue { token: "t".into(), user: "root".into() }
    );
    assert_eq!(s, before);
}

#[test]
fn a_login_checked_before_an_auth_change_is_refused() {
    let mut s = fixture();
    let checked = AuthRequest::Authenticate { name: "u".into(), token: "t".into(), checked_at: s.revision() };
    ok(&mut s, change_password("u", "new hash"), 1);
    rejected(&mut s, checked, Error::AuthOldRevision);
    ok(&mut s, authenticate("u", "t"), 0);
}

#[test]
fn authenticate_errors() {
    let mut s = with_root();
    ok(&mut s, user_add("u"), 1);
    rejected(&mut s, authenticate("u", "t"), Error::AuthNotEnabled);
    rejected(&mut s, authenticate("nobody", "t"), Error::AuthNotEnabled);
    let mut s = fixture();
    rejected(&mut s, authenticate("nobody", "t"), Error::AuthFailed);
    rejected(&mut s, authenticate("", "t"), Error::AuthFailed);
    rejected(&mut s, authenticate("nopw", "t"), Error::AuthFailed);
    rejected(&mut s, authenticate("nopw", ""), Error::AuthFailed);
}

#[test]
fn password_hash_for_login() {
    let s = with_root();
    assert_eq!(s.password_hash_for_login("root"), Err(Error::AuthNotEnabled));
    let s = fixture();
    assert_eq!(s.password_hash_for_login("u"), Ok(HASH));
    assert_eq!(s.password_hash_for_login("nobody"), Err(Error::AuthFailed));
    assert_eq!(s.password_hash_for_login("nopw"), Err(Error::NoPasswordUser));
}

#[test]
fn only_authenticate_is_not_an_admin_change() {
    assert!(!authenticate("u", "t").needs_admin());
    for req in [
        AuthRequest::Enable,
        AuthRequest::Disable,
        user_add("u"),
        user_delete("u"),
        change_password("u", "h"),
        grant_role("u", "r"),
        revoke_role("u", "r"),
        role_add("r"),
        role_delete("r"),
        grant_perm("r", PermKind::Read, b"a", b""),
        revoke_perm("r", b"a", b""),
    ] {
        assert!(req.needs_admin(), "{req:?}");
    }
}

#[test]
fn every_effect_of_apply() {
    let mut s = AuthStore::new();
    let cases = [
        (user_add("root"), TokenEffect::None),
        (user_add("u"), TokenEffect::None),
        (role_add("r"), TokenEffect::None),
        (grant_role("root", "root"), TokenEffect::None),
        (grant_role("u", "r"), TokenEffect::None),
        (grant_perm("r", PermKind::Read, b"a", b""), TokenEffect::None),
        (revoke_perm("r", b"a", b""), TokenEffect::None),
        (revoke_role("u", "r"), TokenEffect::None),
        (AuthRequest::Enable, TokenEffect::None),
        (authenticate("u", "tok"), TokenEffect::Issue { token: "tok".into(), user: "u".into() }),
        (authenticate("u", ""), TokenEffect::None),
        (change_password("u", "h"), TokenEffect::InvalidateUser("u".into())),
        (role_delete("r"), TokenEffect::None),
        (user_delete("u"), TokenEffect::InvalidateUser("u".into())),
        (AuthRequest::Disable, TokenEffect::InvalidateAll),
        (AuthRequest::Disable, TokenEffect::None),
    ];
    for (req, effect) in cases {
        let req = dated(req, &s);
        assert_eq!(s.apply(&req), Ok(effect), "{req:?}");
    }
}

// ---------------------------------------------------------------------------------
// Snapshots

#[test]
fn encode_decode_round_trip() {
    for s in [AuthStore::new(), with_root(), enabled(), fixture()] {
        let decoded = AuthStore::decode(&s.encode()).expect("decode");
        assert_eq!(decoded, s);
        assert_eq!(decoded.revision(), s.revision());
        assert_eq!(decoded.is_enabled(), s.is_enabled());
        assert_eq!(decoded.encode(), s.encode());
    }
    let s = fixture();
    let decoded = AuthStore::decode(&s.encode()).expect("decode");
    assert_eq!(decoded.user("nopw").expect("nopw").password_hash, None);
    assert_eq!(decoded.role("rb"), s.role("rb"));
}

#[test]
fn decode_rebuilds_the_permission_cache() {
    let s = fixture();
    let decoded = AuthStore::decode(&s.encode()).expect("decode");
    assert_eq!(perms_snapshot(&decoded), perms_snapshot(&s));
    assert!(decoded.perms_of("u").is_some());
    let u = who(&decoded, "u");
    assert_eq!(check_request(&decoded, &u, &[read(b"b", b"d"), write(b"x", b""), read(b"x", b"")]), Ok(()));
    assert_eq!(check_request(&decoded, &u, &[read(b"d", b"f")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&decoded, &who(&decoded, "v"), &[write(b"q", b"\0")]), Ok(()));
    // And it keeps working through later changes.
    let mut decoded = decoded;
    ok(&mut decoded, revoke_role("u", "ra"), 1);
    assert_eq!(
        check_request(&decoded, &who(&decoded, "u"), &[read(b"b", b"")]),
        Err(Error::PermissionDenied)
    );
}

#[test]
fn decode_of_garbage_is_an_internal_error() {
    for bytes in [&b""[..], b"\x01", b"garbage that is not an auth store"] {
        match AuthStore::decode(bytes) {
            Err(Error::Internal(msg)) => assert!(msg.contains("auth state"), "{msg}"),
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
    let mut bytes = fixture().encode();
    bytes.truncate(bytes.len() - 1);
    assert!(matches!(AuthStore::decode(&bytes), Err(Error::Internal(_))));
}

// ---------------------------------------------------------------------------------
// check_request

#[test]
fn disabled_allows_everything_to_anyone() {
    let mut s = fixture();
    ok(&mut s, AuthRequest::Disable, 1);
    let needs = [Access::Admin, read(b"\0", b"\0"), write(b"k", b"")];
    for info in [
        AuthInfo::default(),
        AuthInfo { user: "nobody".into(), revision: 0 },
        AuthInfo { user: "n".into(), revision: 1 },
    ] {
        assert_eq!(check_request(&s, &info, &needs), Ok(()), "{info:?}");
    }
}

#[test]
fn empty_user_is_refused() {
    let s = fixture();
    let anon = AuthInfo { user: String::new(), revision: s.revision() };
    assert_eq!(check_request(&s, &anon, &[read(b"a", b"")]), Err(Error::UserEmpty));
    assert_eq!(check_request(&s, &anon, &[Access::Admin]), Err(Error::UserEmpty));
    assert_eq!(check_request(&s, &AuthInfo::default(), &[write(b"a", b"")]), Err(Error::UserEmpty));
}

#[test]
fn identity_older_than_the_store_is_refused_for_key_access() {
    let s = fixture();
    let rev = s.revision();
    let old = AuthInfo { user: "u".into(), revision: rev - 1 };
    assert_eq!(check_request(&s, &old, &[read(b"a", b"")]), Err(Error::AuthOldRevision));
    // Even for root, and before the user lookup.
    let old_root = AuthInfo { user: "root".into(), revision: rev - 1 };
    assert_eq!(check_request(&s, &old_root, &[read(b"a", b"")]), Err(Error::AuthOldRevision));
    let old_nobody = AuthInfo { user: "nobody".into(), revision: 0 };
    assert_eq!(check_request(&s, &old_nobody, &[write(b"a", b"")]), Err(Error::AuthOldRevision));
    // Admin-only needs skip the revision (as etcd's IsAdminPermitted).
    assert_eq!(check_request(&s, &old_root, &[Access::Admin]), Ok(()));
    assert_eq!(check_request(&s, &old, &[Access::Admin]), Err(Error::PermissionDenied));
    // Mixed needs do check it.
    assert_eq!(check_request(&s, &old_root, &[Access::Admin, read(b"a", b"")]), Err(Error::AuthOldRevision));
    // Current and newer identities pass.
    assert_eq!(check_request(&s, &AuthInfo { user: "u".into(), revision: rev }, &[read(b"a", b"")]), Ok(()));
    assert_eq!(
        check_request(&s, &AuthInfo { user: "u".into(), revision: rev + 5 }, &[read(b"a", b"")]),
        Ok(())
    );
}

#[test]
fn the_modules_revision_story() {
    // rev R   grant read [a, b) to r               auth revision R -> R+1
    // rev R+1 u (role r) Range [a, a1) at R+1      ok
    // rev R+1 revoke it                            auth revision R+1 -> R+2
    //         Range [a, a1) at R+1                 "revision of auth store is old"
    //         retried at R+2                       "permission denied"
    let mut s = enabled();
    ok(&mut s, role_add("r"), 1);
    ok(&mut s, user_add("u"), 1);
    ok(&mut s, grant_role("u", "r"), 1);
    ok(&mut s, grant_perm("r", PermKind::Read, b"a", b"b"), 1);
    let first = who(&s, "u");
    assert_eq!(check_request(&s, &first, &[read(b"a", b"a1")]), Ok(()));
    ok(&mut s, revoke_perm("r", b"a", b"b"), 1);
    assert_eq!(check_request(&s, &first, &[read(b"a", b"a1")]), Err(Error::AuthOldRevision));
    assert_eq!(check_request(&s, &who(&s, "u"), &[read(b"a", b"a1")]), Err(Error::PermissionDenied));
}

#[test]
fn unknown_user_is_denied_or_not_found_for_admin() {
    let s = fixture();
    let nobody = who(&s, "nobody");
    assert_eq!(check_request(&s, &nobody, &[read(b"a", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &nobody, &[write(b"a", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &nobody, &[Access::Admin]), Err(Error::UserNotFound));
    assert_eq!(check_request(&s, &nobody, &[Access::Admin, Access::Admin]), Err(Error::UserNotFound));
    assert_eq!(check_request(&s, &nobody, &[Access::Admin, read(b"a", b"")]), Err(Error::PermissionDenied));
}

#[test]
fn root_role_may_do_everything() {
    let s = fixture();
    let root = who(&s, "root");
    let all: &[Access<'_>] = &[
        Access::Admin,
        read(b"\0", b"\0"),
        write(b"\0", b"\0"),
        read(b"", b"\0"),
        write(b"anything", b""),
        read(b"b", b"a"),
    ];
    assert_eq!(check_request(&s, &root, all), Ok(()));
    let mut s = s;
    ok(&mut s, grant_role("n", "root"), 1);
    assert_eq!(check_request(&s, &who(&s, "n"), all), Ok(()));
}

#[test]
fn reads_and_writes_are_covered_over_all_roles() {
    let s = fixture();
    let u = who(&s, "u");
    let check = |needs: &[Access<'_>]| check_request(&s, &u, needs);
    // Read [a, c) from ra and [c, e) from rb: one range across both.
    assert_eq!(check(&[read(b"b", b"d")]), Ok(()));
    assert_eq!(check(&[read(b"a", b"e")]), Ok(()));
    assert_eq!(check(&[read(b"c", b"")]), Ok(()));
    assert_eq!(check(&[read(b"d", b"f")]), Err(Error::PermissionDenied));
    assert_eq!(check(&[read(b"a", b"e\0")]), Err(Error::PermissionDenied));
    assert_eq!(check(&[read(b"a", b"\0")]), Err(Error::PermissionDenied));
    assert_eq!(check(&[read(b"e", b"")]), Err(Error::PermissionDenied));
    // Read-write {x}.
    assert_eq!(check(&[read(b"x", b""), write(b"x", b"")]), Ok(()));
    assert_eq!(check(&[write(b"x", b"x\0")]), Ok(()));
    assert_eq!(check(&[write(b"x", b"y")]), Err(Error::PermissionDenied));
    assert_eq!(check(&[read(b"x\0", b"")]), Err(Error::PermissionDenied));
    // Reads do not give writes.
    assert_eq!(check(&[write(b"a", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check(&[write(b"b", b"d")]), Err(Error::PermissionDenied));
    // Every need must hold: one refused refuses all.
    assert_eq!(check(&[read(b"a", b""), read(b"x", b""), write(b"x", b"")]), Ok(()));
    assert_eq!(check(&[read(b"a", b""), write(b"a", b""), read(b"x", b"")]), Err(Error::PermissionDenied));
    // An inverted range is judged as its start key.
    assert_eq!(check(&[read(b"b", b"a")]), Ok(()));
    assert_eq!(check(&[read(b"e", b"a")]), Err(Error::PermissionDenied));

    // v: write from p on, no reads.
    let v = who(&s, "v");
    assert_eq!(check_request(&s, &v, &[write(b"p", b"\0"), write(b"zzz", b""), write(b"q", b"r")]), Ok(()));
    assert_eq!(check_request(&s, &v, &[write(b"o", b"\0")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &v, &[read(b"p", b"")]), Err(Error::PermissionDenied));
    // n: no roles at all.
    let n = who(&s, "n");
    assert_eq!(check_request(&s, &n, &[read(b"a", b"")]), Err(Error::PermissionDenied));
    assert_eq!(check_request(&s, &n, &[write(b"p", b"")]), Err(Error::PermissionDenied));
}

#[test]
fn admin_is_root_only() {
    let s = fixture();
    for user in ["u", "v", "n", "nopw"] {
        let info = who(&s, user);
        assert_eq!(check_request(&s, &info, &[Access::Admin]), Err(Error::PermissionDenied), "{user}");
        assert_eq!(check_request(&s, &info, &[read(b"x", b""), Access::Admin]), Err(Error::PermissionDenied));
    }
    assert_eq!(check_request(&s, &who(&s, "root"), &[Access::Admin]), Ok(()));
}

#[test]
fn grants_to_roles_reach_users_at_once() {
    let mut s = fixture();
    assert_eq!(check_request(&s, &who(&s, "n"), &[read(b"k", b"")]), Err(Error::PermissionDenied));
    ok(&mut s, role_add("rk"), 1);
    ok(&mut s, grant_perm("rk", PermKind::Read, b"k", b""), 1);
    ok(&mut s, grant_role("n", "rk"), 1);
    assert_eq!(check_request(&s, &who(&s, "n"), &[read(b"k", b"")]), Ok(()));
    // A permission granted to a role already held.
    ok(&mut s, grant_perm("rk", PermKind::Write, b"l", b"m"), 1);
    assert_eq!(check_request(&s, &who(&s, "n"), &[write(b"l", b"l\xff")]), Ok(()));
}

/// An empty list of needs (a txn with no compares and no ops, a lease grant, a revoke
/// of a lease without keys) is vacuously allowed in etcd, which checks nothing for it.
/// Here `needs.iter().all(Admin)` is true for it, so it is judged as admin-only:
/// no user → UserEmpty, unknown user → UserNotFound.
#[test]
fn empty_needs_are_allowed() {
    let s = fixture();
    assert_eq!(check_request(&s, &AuthInfo::default(), &[]), Ok(()));
    assert_eq!(check_request(&s, &who(&s, "nobody"), &[]), Ok(()));
    assert_eq!(check_request(&s, &who(&s, "n"), &[]), Ok(()));
}

// ---------------------------------------------------------------------------------
// txn_accesses

fn cmp(key: &[u8], range_end: &[u8]) -> Compare {
    Compare {
        result: CompareResult::Equal,
        target: CompareTarget::Value(b"v".to_vec()),
        key: key.to_vec(),
        range_end: range_end.to_vec(),
    }
}

fn range_op(key: &[u8], range_end: &[u8]) -> RequestOp {
    RequestOp::Range(RangeRequest { key: key.to_vec(), range_end: range_end.to_vec(), ..Default::default() })
}

fn put_op(key: &[u8], prev_kv: bool) -> RequestOp {
    RequestOp::Put(PutRequest { key: key.to_vec(), value: b"v".to_vec(), prev_kv, ..Default::default() })
}

fn delete_op(key: &[u8], range_end: &[u8], prev_kv: bool) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest { key: key.to_vec(), range_end: range_end.to_vec(), prev_kv })
}

fn accesses(txn: &TxnRequest) -> Vec<Access<'_>> {
    let mut out = Vec::new();
    txn_accesses(txn, &mut out);
    out
}

#[test]
fn txn_needs_compares_and_both_branches_in_order() {
    let txn = TxnRequest {
        compare: vec![cmp(b"c1", b""), cmp(b"c2", b"c3")],
        success: vec![range_op(b"r", b"s"), put_op(b"p1", false), put_op(b"p2", true)],
        failure: vec![delete_op(b"d1", b"d2", true), delete_op(b"d3", b"", false)],
    };
    assert_eq!(
        accesses(&txn),
        vec![
            read(b"c1", b""),
            read(b"c2", b"c3"),
            read(b"r", b"s"),
            write(b"p1", b""),
            write(b"p2", b""),
            read(b"p2", b""),
            write(b"d1", b"d2"),
            read(b"d1", b"d2"),
            write(b"d3", b""),
        ]
    );
}

#[test]
fn txn_needs_nested_txns_in_both_branches() {
    let inner_failure = TxnRequest { failure: vec![range_op(b"n3", b"\0")], ..Default::default() };
    let inner = TxnRequest {
        compare: vec![cmp(b"n1", b"")],
        success: vec![put_op(b"n2", true)],
        failure: vec![RequestOp::Txn(inner_failure)],
    };
    let in_success = TxnRequest {
        compare: vec![],
        success: vec![RequestOp::Txn(TxnRequest {
            success: vec![delete_op(b"s1", b"", false)],
            ..Default::default()
        })],
        failure: vec![],
    };
    let txn = TxnRequest {
        compare: vec![cmp(b"c", b"")],
        success: vec![RequestOp::Txn(in_success), put_op(b"p", false)],
        failure: vec![RequestOp::Txn(inner), delete_op(b"d", b"\0", true)],
    };
    assert_eq!(
        accesses(&txn),
        vec![
            read(b"c", b""),
            write(b"s1", b""),
            write(b"p", b""),
            read(b"n1", b""),
            write(b"n2", b""),
            read(b"n2", b""),
            read(b"n3", b"\0"),
            write(b"d", b"\0"),
            read(b"d", b"\0"),
        ]
    );
}

#[test]
fn txn_accesses_append_to_what_is_there() {
    let txn = TxnRequest { compare: vec![cmp(b"k", b"")], ..Default::default() };
    let mut out = vec![Access::Admin];
    txn_accesses(&txn, &mut out);
    assert_eq!(out, vec![Access::Admin, read(b"k", b"")]);
    assert!(accesses(&TxnRequest::default()).is_empty());
}

#[test]
fn txn_is_judged_by_both_branches_whatever_runs() {
    let s = fixture();
    let u = who(&s, "u");
    // u reads [a, e) and reads/writes x.
    let allowed = TxnRequest {
        compare: vec![cmp(b"a", b"c")],
        success: vec![put_op(b"x", true)],
        failure: vec![range_op(b"b", b"d")],
    };
    assert_eq!(check_request(&s, &u, &accesses(&allowed)), Ok(()));
    let bad_failure = TxnRequest { failure: vec![put_op(b"a", false)], ..allowed.clone() };
    assert_eq!(check_request(&s, &u, &accesses(&bad_failure)), Err(Error::PermissionDenied));
    let bad_compare = TxnRequest { compare: vec![cmp(b"y", b"")], ..allowed.clone() };
    assert_eq!(check_request(&s, &u, &accesses(&bad_compare)), Err(Error::PermissionDenied));
    // prev_kv on a delete of x needs read too: u has it; v (write-only) does not.
    let delete_prev = TxnRequest { success: vec![delete_op(b"x", b"", true)], ..Default::default() };
    assert_eq!(check_request(&s, &u, &accesses(&delete_prev)), Ok(()));
    let v = who(&s, "v");
    let v_delete = TxnRequest { success: vec![delete_op(b"q", b"", false)], ..Default::default() };
    assert_eq!(check_request(&s, &v, &accesses(&v_delete)), Ok(()));
    let v_delete_prev = TxnRequest { success: vec![delete_op(b"q", b"", true)], ..Default::default() };
    assert_eq!(check_request(&s, &v, &accesses(&v_delete_prev)), Err(Error::PermissionDenied));
    // Deep in a nested txn.
    let nested = TxnRequest {
        success: vec![RequestOp::Txn(TxnRequest {
            failure: vec![RequestOp::Txn(TxnRequest { compare: vec![cmp(b"z", b"")], ..Default::default() })],
            ..Default::default()
        })],
        ..Default::default()
    };
    assert_eq!(check_request(&s, &u, &accesses(&nested)), Err(Error::PermissionDenied));
}
