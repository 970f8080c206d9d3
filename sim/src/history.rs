//! Recorded client histories: what the linearizability checker
//! ([`linearize`](crate::linearize)) reads.
//!
//! One [`Op`] per client call: which client issued it, when it was invoked and when it
//! returned (simulated nanoseconds, or any counter that only grows), what it asked
//! ([`Request`]), and how it ended ([`Outcome`]). A [`Response`] holds the etcd
//! response fields the checker compares with the model's answer, copied field for
//! field from the gRPC reply, so the comparison is plain equality:
//!
//! | request   | etcd call                                    | response fields filled      |
//! |-----------|----------------------------------------------|-----------------------------|
//! | `Get`     | Range(key)                                   | revision, kvs (0 or 1)      |
//! | `Range`   | Range(prefix, prefix_end)                    | revision, kvs (key order)   |
//! | `Put`     | Put(key, value)                              | revision                    |
//! | `Delete`  | DeleteRange(key)                             | revision, deleted           |
//! | `Cas`     | Txn(compare key; then put; else range key)   | revision, succeeded, kvs    |
//! | `PutMany` | Txn(no compare; then put every pair)         | revision, succeeded (true)  |
//!
//! `revision` is always the response header's revision. `Cas` fills `kvs` only in the
//! else branch (the range's kvs). Every field not listed stays at its default.
//!
//! Worked example: two clients on a fresh store (revision 1); client 0's second put
//! timed out, so it may have taken effect at any point after time 30, or never.
//!
//! ```text
//! #0 c0 [10..25]  put(a=1)   -> ok rev=2
//! #1 c1 [12..40]  get(a)     -> ok rev=2 kvs=[a=1 (c2 m2 v1)]
//! #2 c0 [30..90]  put(a=2)   -> unknown: timeout
//! #3 c1 [50..60]  get(a)     -> ok rev=3 kvs=[a=2 (c2 m3 v2)]   <- #2 did happen, at 3
//! ```

use std::fmt;

/// etcd's main revision: 1 on a fresh store, +1 per write that changes something.
pub type Revision = i64;

/// A key as etcd returns it in a Range response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
}

/// The compare of a [`Request::Cas`], on its own key. As in etcd, a missing key has
/// mod_revision 0 and matches no value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    ModRevision(Revision),
    Value(Vec<u8>),
}

/// The etcd KV subset the checker models.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    Get {
        key: Vec<u8>,
    },
    /// Every key starting with `prefix` (an empty prefix is the whole key space).
    Range {
        prefix: Vec<u8>,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// `if compare(key) then put(key, value) else get(key)`, one txn.
    Cas {
        key: Vec<u8>,
        compare: Compare,
        value: Vec<u8>,
    },
    /// One txn putting every pair: one revision for all. Keys must be distinct (etcd
    /// rejects duplicates) and the list non-empty.
    PutMany {
        kvs: Vec<(Vec<u8>, Vec<u8>)>,
    },
}

/// The fields of an etcd response the checker compares (see the module table).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The response header's revision: the store's revision right after the op.
    pub revision: Revision,
    pub kvs: Vec<KeyValue>,
    pub deleted: i64,
    pub succeeded: bool,
}

/// How an op ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(Response),
    /// Definitely did not take effect (an error decided before proposing, e.g. a
    /// malformed request). Use sparingly: a timeout or an unavailable member is
    /// [`Outcome::Unknown`].
    Fail {
        reason: String,
    },
    /// May have taken effect at any point after the invocation, or never.
    Unknown {
        reason: String,
    },
}

/// One client call. `return_ns` is when the client got its answer or gave up; for an
/// [`Outcome::Unknown`] op it is shown in reports but constrains nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub client: u64,
    pub invoke_ns: u64,
    pub return_ns: u64,
    pub request: Request,
    pub outcome: Outcome,
}

impl Request {
    /// Get and Range never change the store.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Request::Get { .. } | Request::Range { .. })
    }

    /// The keys this request modifies whenever it changes the store at all.
    pub fn written_keys(&self) -> Vec<&[u8]> {
        match self {
            Request::Get { .. } | Request::Range { .. } => vec![],
            Request::Put { key, .. } | Request::Delete { key } | Request::Cas { key, .. } => vec![key],
            Request::PutMany { kvs } => kvs.iter().map(|(k, _)| k.as_slice()).collect(),
        }
    }

    /// Whether this request, when it changes the store, sets `key` to `value`.
    pub fn puts(&self, key: &[u8], value: &[u8]) -> bool {
        match self {
            Request::Put { key: k, value: v } | Request::Cas { key: k, value: v, .. } => {
                k == key && v == value
            }
            Request::PutMany { kvs } => kvs.iter().any(|(k, v)| k == key && v == value),
            _ => false,
        }
    }

    /// Whether this request, when it changes the store, puts `key` (any value).
    pub fn puts_key(&self, key: &[u8]) -> bool {
        !matches!(self, Request::Delete { .. }) && self.written_keys().contains(&key)
    }
}

impl Op {
    /// The response of an acknowledged op.
    pub fn response(&self) -> Option<&Response> {
        match &self.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        }
    }

    /// Whether the response says this op changed the store (and so produced the
    /// revision in its header): a put, a delete that deleted something, a txn whose
    /// success branch ran. Such an op owns its header revision; no other op can.
    pub fn claims_write(&self) -> bool {
        let Some(r) = self.response() else { return false };
        match &self.request {
            Request::Get { .. } | Request::Range { .. } => false,
            Request::Put { .. } => true,
            Request::Delete { .. } => r.deleted > 0,
            Request::Cas { .. } => r.succeeded,
            Request::PutMany { kvs } => !kvs.is_empty(),
        }
    }
}

/// Bytes as text for reports (lossy UTF-8).
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={} (c{} m{} v{})",
            show(&self.key),
            show(&self.value),
            self.create_revision,
            self.mod_revision,
            self.version
        )
    }
}

impl fmt::Display for Compare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compare::ModRevision(r) => write!(f, "mod_revision=={r}"),
            Compare::Value(v) => write!(f, "value=={}", show(v)),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Get { key } => write!(f, "get({})", show(key)),
            Request::Range { prefix } => write!(f, "range({}*)", show(prefix)),
            Request::Put { key, value } => write!(f, "put({}={})", show(key), show(value)),
            Request::Delete { key } => write!(f, "delete({})", show(key)),
            Request::Cas { key, compare, value } => {
                write!(f, "cas(if {} {compare} then {}={} else get)", show(key), show(key), show(value))
            }
            Request::PutMany { kvs } => {
                let pairs: Vec<String> =
                    kvs.iter().map(|(k, v)| format!("{}={}", show(k), show(v))).collect();
                write!(f, "put_many({})", pairs.join(", "))
            }
        }
    }
}

/// Writes `[a, b, c]` using each item's Display.
pub fn show_list<T: fmt::Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rev={}", self.revision)?;
        if self.deleted != 0 {
            write!(f, " deleted={}", self.deleted)?;
        }
        if self.succeeded {
            write!(f, " succeeded")?;
        }
        if !self.kvs.is_empty() {
            write!(f, " kvs={}", show_list(&self.kvs))?;
        }
        Ok(())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{} [{}..{}] {} -> ", self.client, self.invoke_ns, self.return_ns, self.request)?;
        match &self.outcome {
            Outcome::Ok(r) => write!(f, "ok {r}"),
            Outcome::Fail { reason } => write!(f, "fail: {reason}"),
            Outcome::Unknown { reason } => write!(f, "unknown: {reason}"),
        }
    }
}
