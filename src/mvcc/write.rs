//! One write transaction in progress: the changes of a put, a delete_range or a txn,
//! all at main revision `current_revision + 1`, numbered by sub revision in the order
//! they are made (etcd's storeTxnWrite).
//!
//! Reads inside the transaction see its own earlier changes (etcd's write txn reads at
//! `beginRev + 1` once it has changes). [`Writer::finish`] commits: the store's
//! revision moves by exactly one if anything changed and not at all otherwise. On an
//! error it rolls every change back, so a failed request changes nothing.

use crate::error::{Error, Result};
use crate::mvcc::key_index::KeyIndex;
use crate::mvcc::range::{self, KeySpan};
use crate::mvcc::revision::Revision;
use crate::mvcc::store::KvStore;
use crate::mvcc::types::{DeleteRangeRequest, DeleteRangeResponse, Event, EventType, KeyValue};
use crate::mvcc::types::{PutRequest, PutResponse, RangeRequest, RangeResponse};

pub struct Writer<'s> {
    store: &'s mut KvStore,
    /// Main revision of this transaction's changes; None once revisions ran out.
    main: Option<i64>,
    /// One per change, in change order; `events.len()` is the next sub revision.
    events: Vec<Event>,
}

impl<'s> Writer<'s> {
    pub fn begin(store: &'s mut KvStore) -> Self {
        let main = store.current_revision.checked_add(1);
        Writer { store, main, events: Vec::new() }
    }

    fn next_rev(&self) -> Result<Revision> {
        let main = self.main.ok_or_else(|| Error::Internal("mvcc: revision space exhausted".into()))?;
        Ok(Revision::new(main, i64::try_from(self.events.len()).unwrap_or(i64::MAX)))
    }

    /// The main revision reads see: this transaction's, which includes its changes.
    fn read_main(&self) -> i64 {
        self.main.unwrap_or(self.store.current_revision)
    }

    /// A range inside a txn; its revision was checked by the txn beforehand.
    pub fn range(&self, req: &RangeRequest) -> RangeResponse {
        let at = if req.revision > 0 { req.revision } else { self.read_main() };
        range::evaluate(&self.store.index, req, at)
    }

    /// etcd's applier Put inside a write txn (request checks already done). One map
    /// lookup for an existing key; a new key is inserted only once its put succeeded.
    pub fn put(&mut self, req: &PutRequest) -> Result<PutResponse> {
        let rev = self.next_rev();
        let key = req.key.as_slice();
        let (kv, prev) = match self.store.index.get_mut(key) {
            Some(ki) => put_version(ki, req, rev)?,
            None => {
                let mut ki = KeyIndex::new();
                let done = put_version(&mut ki, req, rev)?;
                self.store.index.insert(key.into(), ki);
                done
            }
        };
        let resp = PutResponse { prev_kv: if req.prev_kv { prev.clone() } else { None } };
        self.events.push(Event { kind: EventType::Put, kv, prev_kv: prev });
        Ok(resp)
    }

    /// etcd's applier DeleteRange inside a write txn (request checks already done).
    pub fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        let mut resp = DeleteRangeResponse::default();
        let main = self.main;
        let span = KeySpan::new(&req.key, &req.range_end);
        for (key, ki) in span.iter_mut(&mut self.store.index) {
            let Some(prev) = ki.latest().map(|v| v.to_key_value(key, false)) else { continue };
            let main = main.ok_or_else(|| Error::Internal("mvcc: revision space exhausted".into()))?;
            let sub = i64::try_from(self.events.len()).unwrap_or(i64::MAX);
            ki.tombstone(Revision::new(main, sub))?;
            if req.prev_kv {
                resp.prev_kvs.push(prev.clone());
            }
            let kv = KeyValue { key: key.to_vec(), mod_revision: main, ..KeyValue::default() };
            self.events.push(Event { kind: EventType::Delete, kv, prev_kv: Some(prev) });
            resp.deleted += 1;
        }
        Ok(resp)
    }

    /// Commit on Ok (one revision if anything changed), roll back on Err.
    pub fn finish<T>(self, result: Result<T>) -> Result<(T, Vec<Event>)> {
        match result {
            Ok(value) => {
                if let (Some(main), false) = (self.main, self.events.is_empty()) {
                    self.store.current_revision = main;
                }
                Ok((value, self.events))
            }
            Err(err) => {
                self.rollback();
                Err(err)
            }
        }
    }

    fn rollback(self) {
        let Some(main) = self.main else { return };
        for event in &self.events {
            let key = event.kv.key.as_slice();
            if let Some(ki) = self.store.index.get_mut(key) {
                ki.rollback(main);
                if ki.is_empty() {
                    self.store.index.remove(key);
                }
            }
        }
    }
}

/// Append `req` to one key's history at `rev`; returns the new and the previous
/// KeyValue. Fails, changing nothing, on `ignore_*` without a live version.
fn put_version(
    ki: &mut KeyIndex,
    req: &PutRequest,
    rev: Result<Revision>,
) -> Result<(KeyValue, Option<KeyValue>)> {
    let key = req.key.as_slice();
    let prev = ki.latest().map(|v| v.to_key_value(key, false));
    let (value, lease) = match &prev {
        Some(p) => (
            if req.ignore_value { p.value.as_slice() } else { req.value.as_slice() },
            if req.ignore_lease { p.lease } else { req.lease },
        ),
        None if req.ignore_value || req.ignore_lease => return Err(Error::KeyNotFound),
        None => (req.value.as_slice(), req.lease),
    };
    let rev = rev?;
    let (create_revision, version) = ki.put(rev, value.into(), lease)?;
    let kv = KeyValue {
        key: key.to_vec(),
        create_revision,
        mod_revision: rev.main,
        version,
        value: value.to_vec(),
        lease,
    };
    Ok((kv, prev))
}
