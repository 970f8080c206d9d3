//! The Auth service (users, roles, permissions, enable/disable, Authenticate), and
//! the identity of a request: its token (gRPC metadata `token`) or, with
//! `--client-cert-auth`, its client certificate's common name.
//!
//! Changes go through raft as `apply::Request::Auth`, wrapped with the caller's
//! identity: whether the caller may make them (root, once auth is on) is decided
//! where they apply. Lookups (UserGet, RoleList, ...) run after a read barrier on the
//! local state: root may see everything, a user its own roles and their permissions.
//!
//! Passwords are hashed here, by the member that takes the request (bcrypt at
//! `--bcrypt-cost`, on a blocking thread), so every member stores the same hash.

use tonic::{Request, Response, Status};

use super::{propose, status, Context, Ctx};
use crate::apply::{Request as Write, Response as Applied};
use crate::auth::{self, Access, AuthInfo, AuthRequest, PermKind, Permission};
use crate::error::Error;
use crate::proto::authpb;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::auth_server::Auth;

/// How tokens are made and read (`--auth-token`).
pub enum TokenKind {
    Simple,
    #[cfg(not(madsim))]
    Jwt(super::jwt::JwtKeys),
}

/// The auth settings of a member.
pub struct AuthSettings {
    pub tokens: TokenKind,
    /// `--auth-token-ttl`: how long a simple token lives after its last use.
    pub simple_token_ttl_ms: u64,
    pub bcrypt_cost: u32,
    /// `--client-cert-auth`: a verified client certificate's CN is the user when no
    /// token is sent.
    pub client_cert_auth: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            tokens: TokenKind::Simple,
            simple_token_ttl_ms: auth::DEFAULT_TOKEN_TTL_S * 1000,
            bcrypt_cost: 10,
            client_cert_auth: false,
        }
    }
}

/// What a request carries to say who made it: the gRPC metadata `token` (or
/// `authorization`, as etcd's gateway forwards it), and the common name of the
/// connection's verified client certificate (not for the gateway's own connection,
/// which never stands for a user: etcd's rule).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub token: Option<String>,
    pub common_name: Option<String>,
}

impl Credentials {
    pub fn of<T>(request: &Request<T>) -> Credentials {
        let md = request.metadata();
        let token = md.get("token").or_else(|| md.get("authorization")).and_then(|v| v.to_str().ok());
        let common_name = match md.get("grpcgateway-accept") {
            Some(_) => None,
            None => request.extensions().get::<ClientCert>().and_then(|c| c.common_name.clone()),
        };
        Credentials { token: token.map(str::to_string), common_name }
    }
}

pub use crate::tls::ClientCert;

impl Context {
    /// Who made `request` (see [`Credentials`]).
    pub async fn identity<T>(&self, request: &Request<T>) -> Result<AuthInfo, Status> {
        self.identity_of(&Credentials::of(request)).await
    }

    /// Who `creds` stand for: the token's user, else the certificate's; the empty
    /// identity when there is neither or auth is off. A token that is unknown,
    /// expired or does not verify is "invalid auth token" (clients then authenticate
    /// again). A simple token this member has not seen may be one whose Authenticate
    /// it has not yet applied: it is looked up again after a read barrier.
    pub async fn identity_of(&self, creds: &Credentials) -> Result<AuthInfo, Status> {
        match self.identity_now(creds) {
            Err(e)
                if matches!(self.auth.tokens, TokenKind::Simple)
                    && e.code() == tonic::Code::Unauthenticated =>
            {
                self.read_barrier().await?;
                self.identity_now(creds)
            }
            other => other,
        }
    }

    fn identity_now(&self, creds: &Credentials) -> Result<AuthInfo, Status> {
        let state = self.node.state().read();
        if !state.auth.is_enabled() {
            return Ok(AuthInfo::default());
        }
        if let Some(token) = &creds.token {
            let found = match &self.auth.tokens {
                TokenKind::Simple => {
                    let mut tokens = state.tokens.lock().unwrap_or_else(|p| p.into_inner());
                    tokens
                        .user_of(token, self.clock.now_ms(), self.auth.simple_token_ttl_ms)
                        .map(|user| AuthInfo { user, revision: state.auth.revision() })
                }
                #[cfg(not(madsim))]
                TokenKind::Jwt(keys) => keys.verify(token, self.clock.unix_ms()),
            };
            return found.ok_or_else(|| status(Error::InvalidAuthToken));
        }
        let user = match &creds.common_name {
            Some(cn) if self.auth.client_cert_auth => cn.clone(),
            _ => String::new(),
        };
        Ok(AuthInfo { user, revision: state.auth.revision() })
    }

    /// Root only (once auth is on): member changes, MoveLeader, alarm changes.
    pub async fn require_admin<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let who = self.identity(request).await?;
        self.check_access(&who, &[Access::Admin])
    }

    /// Root only, with the errors etcd's maintenance service gives: the auth store's
    /// own texts (`auth: permission denied`, ...) with code Unknown, as etcd does not
    /// map them there (Defragment, Snapshot, Hash, HashKV).
    pub async fn require_admin_maintenance<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let unmapped = |e: Status| match e.code() {
            tonic::Code::Unauthenticated => Status::unknown("auth: invalid auth token"),
            tonic::Code::InvalidArgument => Status::unknown("auth: user name is empty"),
            tonic::Code::FailedPrecondition => Status::unknown("auth: user not found"),
            tonic::Code::PermissionDenied => Status::unknown("auth: permission denied"),
            _ => e,
        };
        let who = self.identity(request).await.map_err(unmapped)?;
        self.check_access(&who, &[Access::Admin]).map_err(unmapped)
    }

    /// Whether `who` may do `needs` in the current auth state.
    pub fn check_access(&self, who: &AuthInfo, needs: &[Access<'_>]) -> Result<(), Status> {
        let state = self.node.state().read();
        auth::check_request(&state.auth, who, needs).map_err(status)
    }
}

impl AuthSettings {
    /// From the flags, reading JWT key files through `disk`.
    pub fn from_config(
        cfg: &crate::config::Config,
        disk: &dyn crate::env::Disk,
    ) -> Result<AuthSettings, String> {
        let tokens = match &cfg.auth_token {
            crate::config::AuthTokenSpec::Simple => TokenKind::Simple,
            #[cfg(not(madsim))]
            crate::config::AuthTokenSpec::Jwt { pub_key, priv_key, sign_method, ttl_ms } => {
                let read = |path: &str| -> Result<Vec<u8>, String> {
                    if path.is_empty() {
                        return Ok(Vec::new());
                    }
                    disk.read(std::path::Path::new(path))
                        .map_err(|e| format!("--auth-token jwt: {path}: {e}"))
                };
                let keys = super::jwt::JwtKeys::new(sign_method, &read(pub_key)?, &read(priv_key)?, *ttl_ms)?;
                TokenKind::Jwt(keys)
            }
            #[cfg(madsim)]
            crate::config::AuthTokenSpec::Jwt { .. } => {
                let _ = disk;
                return Err("--auth-token jwt is not available in the simulation build".into());
            }
        };
        Ok(AuthSettings {
            tokens,
            simple_token_ttl_ms: cfg.auth_token_ttl_s.saturating_mul(1000),
            bcrypt_cost: cfg.bcrypt_cost,
            client_cert_auth: cfg.client_tls.client_cert_auth,
        })
    }
}

/// Expire simple tokens: every second, drop those unused for the TTL.
pub async fn run_token_sweeper(ctx: Ctx, shutdown: crate::shutdown::Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        let state = ctx.node.state().read();
        let mut tokens = state.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.sweep(ctx.clock.now_ms(), ctx.auth.simple_token_ttl_ms);
    }
}

/// Propose `req` made by `who`: it applies only if `who` may do it then.
pub async fn propose_as(ctx: &Context, who: AuthInfo, req: Write) -> Result<crate::apply::Applied, Status> {
    if crate::mutant!(AuthCheckAtArrival) {
        {
            let state = ctx.node.state().read();
            let mut needs = Vec::new();
            state.accesses(&req, &mut needs);
            auth::check_request(&state.auth, &who, &needs).map_err(status)?;
        }
        return propose(ctx, req).await;
    }
    propose(ctx, Write::Authed { auth: who, request: Box::new(req) }).await
}

pub struct AuthService {
    pub ctx: Ctx,
}

impl AuthService {
    async fn change<T>(
        &self,
        request: &Request<T>,
        change: AuthRequest,
    ) -> Result<pb::ResponseHeader, Status> {
        let who = self.ctx.identity(request).await?;
        let applied = propose_as(&self.ctx, who, Write::Auth(change)).await?;
        match applied.result.map_err(status)? {
            Applied::Auth => Ok(self.ctx.header_value(applied.revision)),
            other => Err(status(Error::Internal(format!("auth change applied as {other:?}")))),
        }
    }

    /// A lookup: after a read barrier, with the caller's identity checked against the
    /// current state by `allowed` (root passes everything).
    async fn lookup<T, R>(
        &self,
        request: &Request<T>,
        allowed: impl FnOnce(&auth::AuthStore, &AuthInfo) -> bool,
        read: impl FnOnce(&auth::AuthStore) -> Result<R, Error>,
    ) -> Result<(R, pb::ResponseHeader), Status> {
        let who = self.ctx.identity(request).await?;
        self.ctx.read_barrier().await?;
        let state = self.ctx.node.state().read();
        if let Err(e) = auth::check_request(&state.auth, &who, &[Access::Admin]) {
            if !(state.auth.user(&who.user).is_some() && allowed(&state.auth, &who)) {
                return Err(status(e));
            }
        }
        let out = read(&state.auth).map_err(status)?;
        Ok((out, self.ctx.header_value(state.kv.current_revision())))
    }

    async fn hash(&self, password: String) -> Result<String, Status> {
        hash_password(password, self.ctx.auth.bcrypt_cost).await.map_err(status)
    }
}

/// bcrypt `password` at `cost` with a salt from `env::random`, on a blocking thread.
pub async fn hash_password(password: String, cost: u32) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    salt[..8].copy_from_slice(&crate::env::random::random_u64().to_le_bytes());
    salt[8..].copy_from_slice(&crate::env::random::random_u64().to_le_bytes());
    crate::env::blocking(move || {
        bcrypt::hash_with_salt(password.as_bytes(), cost, salt)
            .map(|h| h.format_for_version(bcrypt::Version::TwoA))
            .map_err(|e| Error::Internal(format!("bcrypt: {e}")))
    })
    .await
}

fn permission_from_pb(p: Option<authpb::Permission>) -> Result<Permission, Error> {
    let p = p.ok_or_else(|| Error::InvalidArgument("etcdserver: permission not given".into()))?;
    let kind = PermKind::from_pb(p.perm_type)
        .ok_or_else(|| Error::InvalidArgument("etcdserver: invalid permission type".into()))?;
    Ok(Permission { kind, key: p.key, range_end: p.range_end })
}

fn permission_to_pb(p: &Permission) -> authpb::Permission {
    authpb::Permission { perm_type: p.kind.to_pb(), key: p.key.clone(), range_end: p.range_end.clone() }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        request: Request<pb::AuthEnableRequest>,
    ) -> Result<Response<pb::AuthEnableResponse>, Status> {
        let header = self.change(&request, AuthRequest::Enable).await?;
        Ok(Response::new(pb::AuthEnableResponse { header: Some(header) }))
    }

    async fn auth_disable(
        &self,
        request: Request<pb::AuthDisableRequest>,
    ) -> Result<Response<pb::AuthDisableResponse>, Status> {
        let header = self.change(&request, AuthRequest::Disable).await?;
        Ok(Response::new(pb::AuthDisableResponse { header: Some(header) }))
    }

    async fn auth_status(
        &self,
        request: Request<pb::AuthStatusRequest>,
    ) -> Result<Response<pb::AuthStatusResponse>, Status> {
        // Root only, as etcd 3.5 (3.4 has no AuthStatus).
        let ((enabled, auth_revision), header) =
            self.lookup(&request, |_, _| false, |store| Ok((store.is_enabled(), store.revision()))).await?;
        Ok(Response::new(pb::AuthStatusResponse { header: Some(header), enabled, auth_revision }))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        let req = request.into_inner();
        // The password is checked against the store at some auth revision; the
        // Authenticate entry applies only if the store is still there (else, e.g.
        // after a password change, the check is made again), as etcd loops.
        let mut attempts = 0;
        let (applied, token) = loop {
            self.ctx.read_barrier().await?;
            let (hash, checked_at) = {
                let state = self.ctx.node.state().read();
                let hash = state.auth.password_hash_for_login(&req.name).map_err(status)?.to_string();
                (hash, state.auth.revision())
            };
            let password = req.password.clone();
            let matches =
                crate::env::blocking(move || bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false))
                    .await;
            if !matches {
                return Err(status(Error::AuthFailed));
            }
            let token = match &self.ctx.auth.tokens {
                TokenKind::Simple => auth::new_simple_token(crate::env::random::random_u64),
                #[cfg(not(madsim))]
                TokenKind::Jwt(_) => String::new(),
            };
            let change =
                AuthRequest::Authenticate { name: req.name.clone(), token: token.clone(), checked_at };
            let applied = propose(&self.ctx, Write::Auth(change)).await?;
            match applied.result {
                Err(Error::AuthOldRevision) if attempts < 3 => attempts += 1,
                Err(e) => return Err(status(e)),
                Ok(_) => break (applied, token),
            }
        };
        let token = match &self.ctx.auth.tokens {
            TokenKind::Simple => token,
            #[cfg(not(madsim))]
            TokenKind::Jwt(keys) => {
                let revision = self.ctx.node.state().read().auth.revision();
                keys.sign(&req.name, revision, self.ctx.clock.unix_ms()).map_err(status)?
            }
        };
        Ok(Response::new(pb::AuthenticateResponse {
            header: Some(self.ctx.header_value(applied.revision)),
            token,
        }))
    }

    async fn user_add(
        &self,
        request: Request<pb::AuthUserAddRequest>,
    ) -> Result<Response<pb::AuthUserAddResponse>, Status> {
        let req = request.get_ref();
        if req.name.is_empty() {
            return Err(status(Error::UserEmpty));
        }
        let no_password = req.options.as_ref().is_some_and(|o| o.no_password);
        let password_hash = if no_password {
            None
        } else if !req.hashed_password.is_empty() {
            Some(req.hashed_password.clone())
        } else {
            Some(self.hash(req.password.clone()).await?)
        };
        let change = AuthRequest::UserAdd { name: req.name.clone(), password_hash };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthUserAddResponse { header: Some(header) }))
    }

    async fn user_get(
        &self,
        request: Request<pb::AuthUserGetRequest>,
    ) -> Result<Response<pb::AuthUserGetResponse>, Status> {
        let name = request.get_ref().name.clone();
        let (roles, header) = self
            .lookup(
                &request,
                |_, who| who.user == name,
                |store| {
                    store.user(&name).map(|u| u.roles.iter().cloned().collect()).ok_or(Error::UserNotFound)
                },
            )
            .await?;
        Ok(Response::new(pb::AuthUserGetResponse { header: Some(header), roles }))
    }

    async fn user_list(
        &self,
        request: Request<pb::AuthUserListRequest>,
    ) -> Result<Response<pb::AuthUserListResponse>, Status> {
        let (users, header) = self
            .lookup(&request, |_, _| false, |store| Ok(store.users().map(|(n, _)| n.clone()).collect()))
            .await?;
        Ok(Response::new(pb::AuthUserListResponse { header: Some(header), users }))
    }

    async fn user_delete(
        &self,
        request: Request<pb::AuthUserDeleteRequest>,
    ) -> Result<Response<pb::AuthUserDeleteResponse>, Status> {
        let change = AuthRequest::UserDelete { name: request.get_ref().name.clone() };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthUserDeleteResponse { header: Some(header) }))
    }

    async fn user_change_password(
        &self,
        request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<pb::AuthUserChangePasswordResponse>, Status> {
        let req = request.get_ref();
        let password_hash = if !req.hashed_password.is_empty() {
            req.hashed_password.clone()
        } else {
            self.hash(req.password.clone()).await?
        };
        let change = AuthRequest::UserChangePassword { name: req.name.clone(), password_hash };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthUserChangePasswordResponse { header: Some(header) }))
    }

    async fn user_grant_role(
        &self,
        request: Request<pb::AuthUserGrantRoleRequest>,
    ) -> Result<Response<pb::AuthUserGrantRoleResponse>, Status> {
        let req = request.get_ref();
        let change = AuthRequest::UserGrantRole { user: req.user.clone(), role: req.role.clone() };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthUserGrantRoleResponse { header: Some(header) }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> Result<Response<pb::AuthUserRevokeRoleResponse>, Status> {
        let req = request.get_ref();
        let change = AuthRequest::UserRevokeRole { user: req.name.clone(), role: req.role.clone() };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthUserRevokeRoleResponse { header: Some(header) }))
    }

    async fn role_add(
        &self,
        request: Request<pb::AuthRoleAddRequest>,
    ) -> Result<Response<pb::AuthRoleAddResponse>, Status> {
        let change = AuthRequest::RoleAdd { name: request.get_ref().name.clone() };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthRoleAddResponse { header: Some(header) }))
    }

    async fn role_get(
        &self,
        request: Request<pb::AuthRoleGetRequest>,
    ) -> Result<Response<pb::AuthRoleGetResponse>, Status> {
        let role = request.get_ref().role.clone();
        let (perm, header) = self
            .lookup(
                &request,
                |store, who| store.has_role(&who.user, &role),
                |store| {
                    store
                        .role(&role)
                        .map(|r| r.perms.iter().map(permission_to_pb).collect())
                        .ok_or(Error::RoleNotFound)
                },
            )
            .await?;
        Ok(Response::new(pb::AuthRoleGetResponse { header: Some(header), perm }))
    }

    async fn role_list(
        &self,
        request: Request<pb::AuthRoleListRequest>,
    ) -> Result<Response<pb::AuthRoleListResponse>, Status> {
        let (roles, header) = self
            .lookup(&request, |_, _| false, |store| Ok(store.roles().map(|(n, _)| n.clone()).collect()))
            .await?;
        Ok(Response::new(pb::AuthRoleListResponse { header: Some(header), roles }))
    }

    async fn role_delete(
        &self,
        request: Request<pb::AuthRoleDeleteRequest>,
    ) -> Result<Response<pb::AuthRoleDeleteResponse>, Status> {
        let change = AuthRequest::RoleDelete { name: request.get_ref().role.clone() };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthRoleDeleteResponse { header: Some(header) }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<pb::AuthRoleGrantPermissionResponse>, Status> {
        let req = request.get_ref();
        let perm = permission_from_pb(req.perm.clone()).map_err(status)?;
        let change = AuthRequest::RoleGrantPermission { role: req.name.clone(), perm };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthRoleGrantPermissionResponse { header: Some(header) }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<pb::AuthRoleRevokePermissionResponse>, Status> {
        let req = request.get_ref();
        let change = AuthRequest::RoleRevokePermission {
            role: req.role.clone(),
            key: req.key.clone(),
            range_end: req.range_end.clone(),
        };
        let header = self.change(&request, change).await?;
        Ok(Response::new(pb::AuthRoleRevokePermissionResponse { header: Some(header) }))
    }
}
