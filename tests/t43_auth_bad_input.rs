//! Bad input to auth, through the raw gRPC API of a real member: every refusal comes
//! with etcd's code and message, changes nothing (the auth revision and the user and
//! role lists stay as they were), and the member keeps serving.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use metastore::proto::authpb;
use metastore::proto::etcdserverpb as pb;
use metastore::proto::etcdserverpb::auth_client::AuthClient;
use metastore::proto::etcdserverpb::kv_client::KvClient;
use support::Proc;
use tonic::transport::Channel;
use tonic::{Code, Request};

type Auth = AuthClient<Channel>;

/// `req` with gRPC metadata `token` (as clients send it).
fn with_token<T>(req: T, token: &str) -> Request<T> {
    let mut r = Request::new(req);
    r.metadata_mut().insert("token", token.parse().expect("ASCII token"));
    r
}

/// The call must fail with exactly this code and message.
fn expect_err<T: std::fmt::Debug>(
    what: &str,
    r: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    msg: &str,
) {
    match r {
        Ok(resp) => panic!("{what}: succeeded ({resp:?}); wanted {code:?} {msg:?}"),
        Err(s) => assert_eq!((s.code(), s.message()), (code, msg), "{what}"),
    }
}

fn perm(kind: i32, key: &[u8], range_end: &[u8]) -> Option<authpb::Permission> {
    Some(authpb::Permission { perm_type: kind, key: key.to_vec(), range_end: range_end.to_vec() })
}

/// (auth revision, users, roles) as root sees them.
async fn snapshot(auth: &mut Auth, token: &str) -> (u64, Vec<String>, Vec<String>) {
    let status = auth.auth_status(with_token(pb::AuthStatusRequest {}, token)).await.expect("status");
    let users = auth.user_list(with_token(pb::AuthUserListRequest {}, token)).await.expect("users");
    let roles = auth.role_list(with_token(pb::AuthRoleListRequest {}, token)).await.expect("roles");
    (status.get_ref().auth_revision, users.into_inner().users, roles.into_inner().roles)
}

async fn login(auth: &mut Auth, name: &str, password: &str) -> Result<String, tonic::Status> {
    let req = pb::AuthenticateRequest { name: name.into(), password: password.into() };
    auth.authenticate(req).await.map(|r| r.into_inner().token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_auth_input_gets_etcds_errors_and_changes_nothing() {
    let node = Proc::start(&support::temp_dir("auth-bad"), &["--bcrypt-cost", "4"]);
    let ch = Channel::from_shared(format!("http://{}", node.endpoint()))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let (mut auth, mut kv) = (AuthClient::new(ch.clone()), KvClient::new(ch));
    let fp = Code::FailedPrecondition;
    let user = |name: &str, password: &str| pb::AuthUserAddRequest {
        name: name.into(),
        password: password.into(),
        ..Default::default()
    };

    // Auth off: logins and enabling without root are refused.
    expect_err(
        "login, auth off",
        auth.authenticate(pb::AuthenticateRequest::default()).await,
        fp,
        "etcdserver: authentication is not enabled",
    );
    expect_err(
        "enable, no root",
        auth.auth_enable(pb::AuthEnableRequest {}).await,
        fp,
        "etcdserver: root user does not exist",
    );
    auth.user_add(user("root", "rootpw")).await.expect("add root");
    expect_err(
        "enable, root without role root",
        auth.auth_enable(pb::AuthEnableRequest {}).await,
        fp,
        "etcdserver: root user does not have root role",
    );

    // Names and references.
    expect_err(
        "empty user",
        auth.user_add(user("", "pw")).await,
        Code::InvalidArgument,
        "etcdserver: user name is empty",
    );
    expect_err(
        "empty role",
        auth.role_add(pb::AuthRoleAddRequest { name: String::new() }).await,
        Code::InvalidArgument,
        "etcdserver: role name is empty",
    );
    expect_err(
        "duplicate user",
        auth.user_add(user("root", "x")).await,
        fp,
        "etcdserver: user name already exists",
    );
    auth.role_add(pb::AuthRoleAddRequest { name: "r".into() }).await.expect("add role");
    expect_err(
        "duplicate role",
        auth.role_add(pb::AuthRoleAddRequest { name: "r".into() }).await,
        fp,
        "etcdserver: role name already exists",
    );
    let grant = |u: &str, r: &str| pb::AuthUserGrantRoleRequest { user: u.into(), role: r.into() };
    expect_err(
        "grant to unknown user",
        auth.user_grant_role(grant("nobody", "r")).await,
        fp,
        "etcdserver: user name not found",
    );
    expect_err(
        "grant unknown role",
        auth.user_grant_role(grant("root", "nope")).await,
        fp,
        "etcdserver: role name not found",
    );
    let revoke = pb::AuthUserRevokeRoleRequest { name: "root".into(), role: "r".into() };
    expect_err(
        "revoke role not granted",
        auth.user_revoke_role(revoke).await,
        fp,
        "etcdserver: role is not granted to the user",
    );
    let revoke_perm =
        pb::AuthRoleRevokePermissionRequest { role: "r".into(), key: b"k".to_vec(), range_end: vec![] };
    expect_err(
        "revoke permission not granted",
        auth.role_revoke_permission(revoke_perm).await,
        fp,
        "etcdserver: permission is not granted to the role",
    );
    let grant_perm = |p| pb::AuthRoleGrantPermissionRequest { name: "r".into(), perm: p };
    expect_err(
        "grant no permission",
        auth.role_grant_permission(grant_perm(None)).await,
        Code::InvalidArgument,
        "etcdserver: permission not given",
    );
    expect_err(
        "grant permission type 7",
        auth.role_grant_permission(grant_perm(perm(7, b"k", b""))).await,
        Code::InvalidArgument,
        "etcdserver: invalid permission type",
    );
    expect_err(
        "grant permission on no key",
        auth.role_grant_permission(grant_perm(perm(0, b"", b""))).await,
        Code::InvalidArgument,
        "etcdserver: invalid auth management",
    );
    expect_err(
        "grant empty range",
        auth.role_grant_permission(grant_perm(perm(0, b"b", b"a"))).await,
        Code::InvalidArgument,
        "etcdserver: invalid auth management",
    );
    let grant_missing = pb::AuthRoleGrantPermissionRequest { name: "nope".into(), perm: perm(0, b"k", b"") };
    expect_err(
        "grant to unknown role",
        auth.role_grant_permission(grant_missing).await,
        fp,
        "etcdserver: role name not found",
    );
    expect_err(
        "delete unknown user",
        auth.user_delete(pb::AuthUserDeleteRequest { name: "nobody".into() }).await,
        fp,
        "etcdserver: user name not found",
    );
    expect_err(
        "delete unknown role",
        auth.role_delete(pb::AuthRoleDeleteRequest { role: "nope".into() }).await,
        fp,
        "etcdserver: role name not found",
    );

    // A huge password: stored (bcrypt reads its first 72 bytes, as etcd's does).
    let huge = "p".repeat(200_000);
    auth.user_add(user("big", &huge)).await.expect("a huge password is accepted");

    auth.user_grant_role(grant("root", "root")).await.expect("root role");
    auth.auth_enable(pb::AuthEnableRequest {}).await.expect("enable");
    let root = login(&mut auth, "root", "rootpw").await.expect("root logs in");
    login(&mut auth, "big", &huge).await.expect("the huge password logs in");
    let before = snapshot(&mut auth, &root).await;

    // Logins and tokens.
    let failed = "etcdserver: authentication failed, invalid user ID or password";
    expect_err(
        "wrong password",
        login(&mut auth, "root", "nope").await.map(tonic::Response::new),
        Code::InvalidArgument,
        failed,
    );
    expect_err(
        "unknown user",
        login(&mut auth, "nobody", "x").await.map(tonic::Response::new),
        Code::InvalidArgument,
        failed,
    );
    expect_err(
        "empty name",
        login(&mut auth, "", "").await.map(tonic::Response::new),
        Code::InvalidArgument,
        failed,
    );
    let put = || pb::PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() };
    for token in ["garbage", "a.b", "AAAAAAAAAAAAAAAA.1", "", &format!("{root}x"), &"t".repeat(10_000)] {
        expect_err(
            &format!("token {token:.20?}"),
            kv.put(with_token(put(), token)).await,
            Code::Unauthenticated,
            "etcdserver: invalid auth token",
        );
    }
    expect_err("no token", kv.put(put()).await, Code::InvalidArgument, "etcdserver: user name is empty");
    let big = login(&mut auth, "big", &huge).await.expect("login");
    expect_err(
        "non-root adds a user",
        auth.user_add(with_token(user("x", "y"), &big)).await,
        Code::PermissionDenied,
        "etcdserver: permission denied",
    );
    expect_err(
        "no token deletes root role",
        auth.role_delete(pb::AuthRoleDeleteRequest { role: "root".into() }).await,
        Code::InvalidArgument,
        "etcdserver: user name is empty",
    );
    let del_root = with_token(pb::AuthUserDeleteRequest { name: "root".into() }, &root);
    expect_err(
        "root deletes root",
        auth.user_delete(del_root).await,
        Code::InvalidArgument,
        "etcdserver: invalid auth management",
    );
    let unroot =
        with_token(pb::AuthUserRevokeRoleRequest { name: "root".into(), role: "root".into() }, &root);
    expect_err(
        "root drops role root",
        auth.user_revoke_role(unroot).await,
        Code::InvalidArgument,
        "etcdserver: invalid auth management",
    );

    assert_eq!(snapshot(&mut auth, &root).await, before, "refused requests changed the auth state");
    kv.put(with_token(put(), &root)).await.expect("root still writes");
}
