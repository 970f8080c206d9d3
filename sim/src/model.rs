//! The etcd KV model: the sequential specification the linearizability checker
//! replays ([`linearize`](crate::linearize)). Owns the visible key space, the store
//! revision, the response each [`Request`] gets, and an undo journal so a search can
//! step back cheaply.
//!
//! Rules (etcd 3.5): the store starts at revision 1. A write that changes something
//! (any put; a delete that deletes a key; a txn whose success branch runs) bumps the
//! revision by exactly 1, however many keys it touches. Reads, deletes of nothing and
//! txns that take the read-only else branch do not. Every response's header revision
//! is the store revision right after the op.
//!
//! ```text
//! request                       revision   a                     response
//! (fresh store)                 1          -
//! put a=x                       2          x (c2 m2 v1)          rev=2
//! delete b                      2          x (c2 m2 v1)          rev=2 deleted=0
//! cas(if a mod_revision==2      3          y (c2 m3 v2)          rev=3 succeeded
//!     then a=y else get)
//! cas(if a value==x ...)        3          y (c2 m3 v2)          rev=3 kvs=[a=y (c2 m3 v2)]
//! delete a                      4          -                     rev=4 deleted=1
//! put a=z                       5          z (c5 m5 v1)          rev=5
//! ```

use std::collections::BTreeMap;

use crate::history::{Compare, KeyValue, Request, Response, Revision};

/// What the store keeps for one live key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
}

enum Undo {
    Key(Vec<u8>, Option<Entry>),
    Revision(Revision),
}

/// The model state: key space plus revision, with an incremental hash of the key
/// space (for the checker's memo) and an undo journal.
pub struct KvState {
    revision: Revision,
    keys: BTreeMap<Vec<u8>, Entry>,
    keys_hash: u64,
    journal: Vec<Undo>,
}

impl Default for KvState {
    fn default() -> Self {
        KvState::new()
    }
}

impl Clone for KvState {
    /// Clones the state, not the journal.
    fn clone(&self) -> Self {
        KvState {
            revision: self.revision,
            keys: self.keys.clone(),
            keys_hash: self.keys_hash,
            journal: vec![],
        }
    }
}

impl KvState {
    /// A fresh store: revision 1, no keys.
    pub fn new() -> Self {
        KvState { revision: 1, keys: BTreeMap::new(), keys_hash: 0, journal: vec![] }
    }

    /// A store already at `revision` holding `kvs` (each `mod_revision <= revision`).
    pub fn with_kvs(revision: Revision, kvs: &[KeyValue]) -> Self {
        let mut s = KvState { revision, ..KvState::new() };
        for kv in kvs {
            assert!(kv.mod_revision <= revision, "initial kv {kv} is newer than revision {revision}");
            let entry = Entry {
                value: kv.value.clone(),
                create_revision: kv.create_revision,
                mod_revision: kv.mod_revision,
                version: kv.version,
            };
            s.set(kv.key.clone(), Some(entry));
        }
        s.journal.clear();
        s
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Hash of the key space (not the revision); equal states hash equal.
    pub fn keys_hash(&self) -> u64 {
        self.keys_hash
    }

    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        self.keys.get(key)
    }

    pub fn get(&self, key: &[u8]) -> Option<KeyValue> {
        self.keys.get(key).map(|e| kv_of(key, e))
    }

    /// Every key starting with `prefix`, in key order.
    pub fn range(&self, prefix: &[u8]) -> Vec<KeyValue> {
        self.keys
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, e)| kv_of(k, e))
            .collect()
    }

    /// Whether `compare` holds on `key` now.
    pub fn compare_holds(&self, key: &[u8], compare: &Compare) -> bool {
        let entry = self.keys.get(key);
        match compare {
            Compare::ModRevision(r) => entry.map_or(0, |e| e.mod_revision) == *r,
            Compare::Value(v) => entry.is_some_and(|e| &e.value == v),
        }
    }

    /// Whether applying `req` now would change the store (and bump the revision).
    pub fn would_change(&self, req: &Request) -> bool {
        match req {
            Request::Get { .. } | Request::Range { .. } => false,
            Request::Put { .. } => true,
            Request::Delete { key } => self.keys.contains_key(key),
            Request::Cas { key, compare, .. } => self.compare_holds(key, compare),
            Request::PutMany { kvs } => !kvs.is_empty(),
        }
    }

    /// The response `req` would get now, without applying it.
    pub fn respond(&self, req: &Request) -> Response {
        let next = self.revision + 1;
        let here = Response { revision: self.revision, ..Response::default() };
        match req {
            Request::Get { key } => Response { kvs: self.get(key).into_iter().collect(), ..here },
            Request::Range { prefix } => Response { kvs: self.range(prefix), ..here },
            Request::Put { .. } => Response { revision: next, ..here },
            Request::Delete { key } if self.keys.contains_key(key) => {
                Response { revision: next, deleted: 1, ..here }
            }
            Request::Delete { .. } => here,
            Request::Cas { key, compare, .. } if self.compare_holds(key, compare) => {
                Response { revision: next, succeeded: true, ..here }
            }
            Request::Cas { key, .. } => Response { kvs: self.get(key).into_iter().collect(), ..here },
            Request::PutMany { kvs } if kvs.is_empty() => Response { succeeded: true, ..here },
            Request::PutMany { .. } => Response { revision: next, succeeded: true, ..here },
        }
    }

    /// Apply `req` and return its response. Changes are journaled (see [`Self::mark`]).
    pub fn apply(&mut self, req: &Request) -> Response {
        let response = self.respond(req);
        if !self.would_change(req) {
            return response;
        }
        self.journal.push(Undo::Revision(self.revision));
        self.revision += 1;
        match req {
            Request::Put { key, value } | Request::Cas { key, value, .. } => self.put(key, value),
            Request::Delete { key } => self.set(key.clone(), None),
            Request::PutMany { kvs } => kvs.iter().for_each(|(k, v)| self.put(k, v)),
            Request::Get { .. } | Request::Range { .. } => unreachable!("reads never change the store"),
        }
        response
    }

    /// A point to [`Self::rollback`] to.
    pub fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Undo every change applied since `mark`.
    pub fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            match self.journal.pop().expect("journal longer than mark") {
                Undo::Revision(r) => self.revision = r,
                Undo::Key(key, old) => {
                    self.replace(key, old);
                }
            }
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        let entry = match self.keys.get(key) {
            Some(e) => Entry {
                value: value.to_vec(),
                create_revision: e.create_revision,
                mod_revision: self.revision,
                version: e.version + 1,
            },
            None => Entry {
                value: value.to_vec(),
                create_revision: self.revision,
                mod_revision: self.revision,
                version: 1,
            },
        };
        self.set(key.to_vec(), Some(entry));
    }

    /// Set or remove `key`, journaling the old entry.
    fn set(&mut self, key: Vec<u8>, entry: Option<Entry>) {
        let old = self.replace(key.clone(), entry);
        self.journal.push(Undo::Key(key, old));
    }

    /// Set or remove `key`, keeping the hash current; returns the old entry.
    fn replace(&mut self, key: Vec<u8>, entry: Option<Entry>) -> Option<Entry> {
        if let Some(e) = &entry {
            self.keys_hash ^= entry_hash(&key, e);
        }
        let old = match entry {
            Some(e) => self.keys.insert(key.clone(), e),
            None => self.keys.remove(&key),
        };
        if let Some(e) = &old {
            self.keys_hash ^= entry_hash(&key, e);
        }
        old
    }
}

fn kv_of(key: &[u8], e: &Entry) -> KeyValue {
    KeyValue {
        key: key.to_vec(),
        value: e.value.clone(),
        create_revision: e.create_revision,
        mod_revision: e.mod_revision,
        version: e.version,
    }
}

/// SplitMix64's finalizer: a strong 64-bit mix.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn bytes_hash(mut h: u64, bytes: &[u8]) -> u64 {
    h = mix64(h ^ bytes.len() as u64);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix64(h ^ u64::from_le_bytes(word));
    }
    h
}

fn entry_hash(key: &[u8], e: &Entry) -> u64 {
    let h = bytes_hash(bytes_hash(0, key), &e.value);
    let h = mix64(h ^ e.create_revision as u64);
    let h = mix64(h ^ e.mod_revision as u64);
    mix64(h ^ e.version as u64)
}

#[cfg(test)]
#[path = "model_test.rs"]
mod model_test;
