//! The replicated auth state and the rules of every change to it (etcd's authStore).
//!
//! Every change that succeeds bumps the auth revision, except enabling auth and
//! authenticating (etcd's rule: requests made before `AuthEnable` still carry the
//! revision they were made at). Grants that change nothing (a role granted twice)
//! succeed without a bump.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::perm::{Interval, IntervalSet, UserPerms};
use super::{AuthRequest, Permission, ROOT_ROLE, ROOT_USER};
use crate::error::{Error, Result};

/// A user: its bcrypt hash (`None`: added with `no_password`, authenticates only by
/// certificate) and the roles granted to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub password_hash: Option<String>,
    pub roles: BTreeSet<String>,
}

/// A role: its key permissions, sorted by key as etcd keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub perms: Vec<Permission>,
}

/// What applying a change means for the member-local token table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenEffect {
    None,
    /// Forget every token of this user (deleted, or its password changed).
    InvalidateUser(String),
    /// Forget every token (auth disabled).
    InvalidateAll,
    /// Register a simple token for this user.
    Issue {
        token: String,
        user: String,
    },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AuthStore {
    enabled: bool,
    revision: u64,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
    /// Each user's permissions merged over its roles; rebuilt on every change.
    #[serde(skip)]
    perms: HashMap<String, UserPerms>,
}

impl PartialEq for AuthStore {
    fn eq(&self, other: &Self) -> bool {
        (self.enabled, self.revision, &self.users, &self.roles)
            == (other.enabled, other.revision, &other.users, &other.roles)
    }
}

impl Eq for AuthStore {}

impl AuthStore {
    pub fn new() -> Self {
        AuthStore { revision: 1, ..Default::default() }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    pub fn users(&self) -> impl Iterator<Item = (&String, &User)> {
        self.users.iter()
    }

    pub fn roles(&self) -> impl Iterator<Item = (&String, &Role)> {
        self.roles.iter()
    }

    pub fn has_role(&self, user: &str, role: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.roles.contains(role))
    }

    pub(super) fn perms_of(&self, user: &str) -> Option<&UserPerms> {
        self.perms.get(user)
    }

    /// Apply one change, in log order. On error nothing changed.
    pub fn apply(&mut self, req: &AuthRequest) -> Result<TokenEffect> {
        let effect = match req {
            AuthRequest::Enable => return self.enable().map(|()| TokenEffect::None),
            AuthRequest::Disable => {
                if !self.enabled {
                    return Ok(TokenEffect::None);
                }
                self.enabled = false;
                TokenEffect::InvalidateAll
            }
            AuthRequest::Authenticate { name, token, checked_at } => {
                return self.authenticate(name, token, *checked_at)
            }
            AuthRequest::UserAdd { name, password_hash } => {
                if name.is_empty() {
                    return Err(Error::UserEmpty);
                }
                if self.users.contains_key(name) {
                    return Err(Error::UserAlreadyExist);
                }
                let user = User { password_hash: password_hash.clone(), roles: BTreeSet::new() };
                self.users.insert(name.clone(), user);
                TokenEffect::None
            }
            AuthRequest::UserDelete { name } => {
                if self.enabled && name == ROOT_USER {
                    return Err(Error::InvalidAuthMgmt);
                }
                self.users.remove(name).ok_or(Error::UserNotFound)?;
                TokenEffect::InvalidateUser(name.clone())
            }
            AuthRequest::UserChangePassword { name, password_hash } => {
                let user = self.users.get_mut(name).ok_or(Error::UserNotFound)?;
                // A user added with no password stays without one (etcd keeps its
                // `no_password` option and ignores the password).
                if user.password_hash.is_some() {
                    user.password_hash = Some(password_hash.clone());
                }
                TokenEffect::InvalidateUser(name.clone())
            }
            AuthRequest::UserGrantRole { user, role } => {
                let u = self.users.get(user).ok_or(Error::UserNotFound)?;
                if role != ROOT_ROLE && !self.roles.contains_key(role) {
                    return Err(Error::RoleNotFound);
                }
                if u.roles.contains(role) {
                    return Ok(TokenEffect::None);
                }
                self.users.get_mut(user).expect("checked above").roles.insert(role.clone());
                TokenEffect::None
            }
            AuthRequest::UserRevokeRole { user, role } => {
                if self.enabled && user == ROOT_USER && role == ROOT_ROLE {
                    return Err(Error::InvalidAuthMgmt);
                }
                let u = self.users.get_mut(user).ok_or(Error::UserNotFound)?;
                if !u.roles.remove(role) {
                    return Err(Error::RoleNotGranted);
                }
                TokenEffect::None
            }
            AuthRequest::RoleAdd { name } => {
                if name.is_empty() {
                    return Err(Error::RoleEmpty);
                }
                if self.roles.contains_key(name) {
                    return Err(Error::RoleAlreadyExist);
                }
                self.roles.insert(name.clone(), Role::default());
                TokenEffect::None
            }
            AuthRequest::RoleDelete { name } => {
                if self.enabled && name == ROOT_ROLE {
                    return Err(Error::InvalidAuthMgmt);
                }
                self.roles.remove(name).ok_or(Error::RoleNotFound)?;
                for user in self.users.values_mut() {
                    user.roles.remove(name);
                }
                TokenEffect::None
            }
            AuthRequest::RoleGrantPermission { role, perm } => {
                // etcd 3.5: a permission must name a key, and a range must not be empty.
                let empty_range =
                    !perm.range_end.is_empty() && perm.range_end != [0] && perm.range_end <= perm.key;
                if perm.key.is_empty() || empty_range {
                    return Err(Error::InvalidAuthMgmt);
                }
                let r = self.roles.get_mut(role).ok_or(Error::RoleNotFound)?;
                match r.perms.iter_mut().find(|p| p.key == perm.key && p.range_end == perm.range_end) {
                    Some(existing) => existing.kind = perm.kind,
                    None => {
                        r.perms.push(perm.clone());
                        r.perms.sort_by(|a, b| a.key.cmp(&b.key));
                    }
                }
                TokenEffect::None
            }
            AuthRequest::RoleRevokePermission { role, key, range_end } => {
                let r = self.roles.get_mut(role).ok_or(Error::RoleNotFound)?;
                let before = r.perms.len();
                r.perms.retain(|p| !(p.key == *key && p.range_end == *range_end));
                if r.perms.len() == before {
                    return Err(Error::PermissionNotGranted);
                }
                TokenEffect::None
            }
        };
        self.revision += 1;
        self.refresh_perms();
        Ok(effect)
    }

    fn enable(&mut self) -> Result<()> {
        if self.enabled {
            return Ok(());
        }
        let root = self.users.get(ROOT_USER).ok_or(Error::RootUserNotExist)?;
        if !root.roles.contains(ROOT_ROLE) {
            return Err(Error::RootRoleNotExist);
        }
        self.enabled = true;
        self.refresh_perms();
        Ok(())
    }

    fn authenticate(&self, name: &str, token: &str, checked_at: u64) -> Result<TokenEffect> {
        if !self.enabled {
            return Err(Error::AuthNotEnabled);
        }
        if checked_at != self.revision {
            return Err(Error::AuthOldRevision);
        }
        let user = self.users.get(name).ok_or(Error::AuthFailed)?;
        if user.password_hash.is_none() {
            return Err(Error::AuthFailed);
        }
        if token.is_empty() {
            return Ok(TokenEffect::None);
        }
        Ok(TokenEffect::Issue { token: token.to_string(), user: name.to_string() })
    }

    /// Rebuild every user's merged permissions (after decode and every change).
    pub fn refresh_perms(&mut self) {
        let mut perms = HashMap::with_capacity(self.users.len());
        for (name, user) in &self.users {
            let mut read = Vec::new();
            let mut write = Vec::new();
            for role in user.roles.iter().filter_map(|r| self.roles.get(r)) {
                for p in &role.perms {
                    let Some(iv) = Interval::from_etcd(&p.key, &p.range_end) else { continue };
                    if p.kind.reads() {
                        read.push(iv.clone());
                    }
                    if p.kind.writes() {
                        write.push(iv);
                    }
                }
            }
            perms.insert(
                name.clone(),
                UserPerms { read: IntervalSet::new(read), write: IntervalSet::new(write) },
            );
        }
        self.perms = perms;
    }

    /// The password check of Authenticate, before anything is proposed: the user's
    /// hash to compare against, or etcd's refusal.
    pub fn password_hash_for_login(&self, name: &str) -> Result<&str> {
        if !self.enabled {
            return Err(Error::AuthNotEnabled);
        }
        let user = self.users.get(name).ok_or(Error::AuthFailed)?;
        user.password_hash.as_deref().ok_or(Error::NoPasswordUser)
    }

    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut store: AuthStore = bincode::deserialize(bytes)
            .map_err(|e| Error::Internal(format!("auth state in snapshot is corrupt: {e}")))?;
        store.refresh_perms();
        Ok(store)
    }
}
