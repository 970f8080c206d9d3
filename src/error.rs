//! Errors of the core, each with etcd's gRPC status code and exact message.
//!
//! The core never builds a `tonic::Status`; `server/` maps [`Error::code`] and
//! [`Error::message`] onto one. Messages are byte-for-byte etcd's (v3rpc/rpctypes),
//! because clients (etcdctl, clientv3) match on them.

use serde::{Deserialize, Serialize};

/// gRPC status codes used by etcd (numbering as in the gRPC spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The requested revision is at or below the compacted revision.
    Compacted,
    /// The requested revision is above the current revision.
    FutureRev,
    KeyNotProvided,
    TooManyOps,
    DuplicateKey,
    RequestTooLarge,
    LeaseNotFound,
    LeaseExist,
    LeaseTtlTooLarge,
    /// Put with ignore_value / ignore_lease on a key that does not exist.
    KeyNotFound,
    NoSpace,
    NoLeader,
    LeaderChanged,
    Timeout,
    Stopped,
    /// Member changes (the Cluster service) and MoveLeader.
    MemberExist,
    PeerUrlExist,
    MemberNotEnoughStarted,
    MemberBadUrls,
    MemberNotFound,
    MemberNotLearner,
    LearnerNotReady,
    TooManyLearners,
    NotLeader,
    BadLeaderTransferee,
    LeaderTransferTimeout,
    ClusterIdMismatch,
    /// Auth (etcd's auth store errors, as its gRPC layer maps them).
    RootUserNotExist,
    RootRoleNotExist,
    UserAlreadyExist,
    UserEmpty,
    UserNotFound,
    RoleAlreadyExist,
    RoleNotFound,
    RoleEmpty,
    AuthFailed,
    /// A password given for a user added with `no_password`.
    NoPasswordUser,
    PermissionDenied,
    RoleNotGranted,
    PermissionNotGranted,
    AuthNotEnabled,
    InvalidAuthToken,
    InvalidAuthMgmt,
    AuthOldRevision,
    /// A CORRUPT alarm stands.
    Corrupt,
    /// A corruption or internal failure; the message says what broke.
    Internal(String),
    /// A malformed request that etcd rejects with InvalidArgument; carries etcd's text.
    InvalidArgument(String),
}

impl Error {
    pub fn code(&self) -> Code {
        use Error::*;
        match self {
            Compacted | FutureRev => Code::OutOfRange,
            KeyNotProvided | TooManyOps | DuplicateKey | RequestTooLarge | KeyNotFound => {
                Code::InvalidArgument
            }
            InvalidArgument(_) => Code::InvalidArgument,
            LeaseNotFound => Code::NotFound,
            LeaseExist => Code::FailedPrecondition,
            LeaseTtlTooLarge => Code::OutOfRange,
            NoSpace => Code::ResourceExhausted,
            NoLeader | LeaderChanged | Timeout | Stopped | LeaderTransferTimeout => Code::Unavailable,
            MemberExist
            | PeerUrlExist
            | MemberNotEnoughStarted
            | MemberNotLearner
            | LearnerNotReady
            | TooManyLearners
            | NotLeader
            | BadLeaderTransferee
            | ClusterIdMismatch => Code::FailedPrecondition,
            MemberBadUrls => Code::InvalidArgument,
            MemberNotFound => Code::NotFound,
            RootUserNotExist | RootRoleNotExist | UserAlreadyExist | UserNotFound | RoleAlreadyExist
            | RoleNotFound | RoleNotGranted | PermissionNotGranted | AuthNotEnabled => {
                Code::FailedPrecondition
            }
            UserEmpty | RoleEmpty | AuthFailed | InvalidAuthMgmt | AuthOldRevision => Code::InvalidArgument,
            NoPasswordUser => Code::Unknown,
            PermissionDenied => Code::PermissionDenied,
            InvalidAuthToken => Code::Unauthenticated,
            Corrupt => Code::DataLoss,
            Internal(_) => Code::Internal,
        }
    }

    pub fn message(&self) -> String {
        use Error::*;
        match self {
            Compacted => "etcdserver: mvcc: required revision has been compacted".into(),
            FutureRev => "etcdserver: mvcc: required revision is a future revision".into(),
            KeyNotProvided => "etcdserver: key is not provided".into(),
            TooManyOps => "etcdserver: too many operations in txn request".into(),
            DuplicateKey => "etcdserver: duplicate key given in txn request".into(),
            RequestTooLarge => "etcdserver: request is too large".into(),
            LeaseNotFound => "etcdserver: requested lease not found".into(),
            LeaseExist => "etcdserver: lease already exists".into(),
            LeaseTtlTooLarge => "etcdserver: too large lease TTL".into(),
            KeyNotFound => "etcdserver: key not found".into(),
            NoSpace => "etcdserver: mvcc: database space exceeded".into(),
            NoLeader => "etcdserver: no leader".into(),
            LeaderChanged => "etcdserver: leader changed".into(),
            Timeout => "etcdserver: request timed out".into(),
            Stopped => "etcdserver: server stopped".into(),
            MemberExist => "etcdserver: member ID already exist".into(),
            PeerUrlExist => "etcdserver: Peer URLs already exists".into(),
            MemberNotEnoughStarted => {
                "etcdserver: re-configuration failed due to not enough started members".into()
            }
            MemberBadUrls => "etcdserver: given member URLs are invalid".into(),
            MemberNotFound => "etcdserver: member not found".into(),
            MemberNotLearner => "etcdserver: can only promote a learner member".into(),
            LearnerNotReady => {
                "etcdserver: can only promote a learner member which is in sync with leader".into()
            }
            TooManyLearners => "etcdserver: too many learner members in cluster".into(),
            NotLeader => "etcdserver: not leader".into(),
            BadLeaderTransferee => "etcdserver: bad leader transferee".into(),
            LeaderTransferTimeout => "etcdserver: request timed out, leader transfer took too long".into(),
            ClusterIdMismatch => "etcdserver: cluster ID mismatch".into(),
            RootUserNotExist => "etcdserver: root user does not exist".into(),
            RootRoleNotExist => "etcdserver: root user does not have root role".into(),
            UserAlreadyExist => "etcdserver: user name already exists".into(),
            UserEmpty => "etcdserver: user name is empty".into(),
            UserNotFound => "etcdserver: user name not found".into(),
            RoleAlreadyExist => "etcdserver: role name already exists".into(),
            RoleNotFound => "etcdserver: role name not found".into(),
            RoleEmpty => "etcdserver: role name is empty".into(),
            AuthFailed => "etcdserver: authentication failed, invalid user ID or password".into(),
            NoPasswordUser => "auth: authentication failed, password was given for no password user".into(),
            PermissionDenied => "etcdserver: permission denied".into(),
            RoleNotGranted => "etcdserver: role is not granted to the user".into(),
            PermissionNotGranted => "etcdserver: permission is not granted to the role".into(),
            AuthNotEnabled => "etcdserver: authentication is not enabled".into(),
            InvalidAuthToken => "etcdserver: invalid auth token".into(),
            InvalidAuthMgmt => "etcdserver: invalid auth management".into(),
            AuthOldRevision => "etcdserver: revision of auth store is old".into(),
            Corrupt => "etcdserver: corrupt cluster".into(),
            Internal(m) => m.clone(),
            InvalidArgument(m) => m.clone(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

impl From<crate::lease::LeaseError> for Error {
    fn from(e: crate::lease::LeaseError) -> Self {
        match e {
            crate::lease::LeaseError::NotFound => Error::LeaseNotFound,
            crate::lease::LeaseError::Exists => Error::LeaseExist,
            crate::lease::LeaseError::TtlTooLarge => Error::LeaseTtlTooLarge,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The gRPC status a client sees for `e`: etcd's code and message.
pub fn status(e: Error) -> tonic::Status {
    tonic::Status::new(tonic::Code::from_i32(e.code() as i32), e.message())
}
