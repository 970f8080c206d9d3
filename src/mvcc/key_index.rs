//! The history of one key: its generations of versions, tombstones and compaction.
//!
//! A *generation* is one life of a key: from the put that creates it to the delete
//! (tombstone) that ends it. The last generation is the current one; it is empty while
//! the key is deleted. Unlike etcd's keyIndex, which points into a separate
//! revision-keyed backend, each version here carries its value and lease inline, so a
//! key's bytes live once (as the key of the store's map) and a read needs one lookup.
//!
//! Worked example. `put(2.0) put(3.0) delete(4.0) put(6.0) put(7.0) delete(8.1)
//! put(9.0)` on one key gives (oldest first, `(t)` = tombstone):
//!
//! ```text
//! {2.0, 3.0, 4.0(t)}   create 2, ver 3
//! {6.0, 7.0, 8.1(t)}   create 6, ver 3
//! {9.0}                create 9, ver 1    <- current generation
//!
//! get(3) = 3.0 (create 2, version 2)   get(4) = get(5) = none (deleted)
//! get(7) = 7.0 (create 6, version 2)   get(8) = none         get(9) = 9.0
//! ```
//!
//! Compaction at `rev` keeps, per key, only what a read at `rev` or later can see:
//! generations whose tombstone is below `rev` go wholly; in the first remaining one,
//! versions below the newest one at or below `rev` go. Applied in turn to the above:
//!
//! ```text
//! compact(3):  {3.0, 4.0(t)} {6.0, 7.0, 8.1(t)} {9.0}   2.0 is unreachable
//! compact(4):  {4.0(t)} {6.0, 7.0, 8.1(t)} {9.0}        a tombstone at exactly the
//!                                                       compaction revision stays
//!                                                       (etcd >= 3.5.16 does too)
//! compact(7):  {7.0, 8.1(t)} {9.0}                      7.0 still reads as create 6,
//!                                                       version 2: `create_revision`
//!                                                       and `ver` survive trimming
//! compact(9):  {9.0}
//! delete(10.0), compact(10):  {10.0(t)} {}
//! compact(11): {}                                       empty: the store drops the key
//! ```

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mvcc::revision::Revision;
use crate::mvcc::types::KeyValue;

/// One stored version: a put (value and lease) or, as the last version of a
/// generation that is not the current one, a tombstone (empty value, lease 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVersion {
    pub rev: Revision,
    #[serde(with = "serde_bytes")]
    pub value: Box<[u8]>,
    pub lease: i64,
}

/// One life of a key, oldest version first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// Main revision of the put that created the generation; kept when compaction
    /// trims that put away.
    create_revision: i64,
    /// Versions ever appended, tombstone included; kept when compaction trims, so the
    /// version number of the remaining ones stays right.
    ver: i64,
    versions: Vec<StoredVersion>,
}

/// All generations of one key, oldest first; never without a (possibly empty)
/// current generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyIndex {
    generations: Vec<Generation>,
}

/// A live version as a reader sees it, borrowing the stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRef<'a> {
    pub create_revision: i64,
    pub mod_revision: Revision,
    pub version: i64,
    pub value: &'a [u8],
    pub lease: i64,
}

/// Any stored version, tombstones included (for hashing and checkers). For a
/// tombstone only `version.mod_revision` is meaningful.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredRef<'a> {
    pub version: VersionRef<'a>,
    pub tombstone: bool,
}

impl VersionRef<'_> {
    /// The etcd KeyValue of this version; `keys_only` leaves the value empty.
    pub fn to_key_value(&self, key: &[u8], keys_only: bool) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision.main,
            version: self.version,
            value: if keys_only { Vec::new() } else { self.value.to_vec() },
            lease: self.lease,
        }
    }
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// View of the version at `idx`; its version number counts back from `ver`.
    fn view(&self, idx: usize) -> Option<VersionRef<'_>> {
        let stored = self.versions.get(idx)?;
        let newer = self.versions.len().saturating_sub(idx + 1);
        Some(VersionRef {
            create_revision: self.create_revision,
            mod_revision: stored.rev,
            version: self.ver.saturating_sub(i64::try_from(newer).unwrap_or(i64::MAX)),
            value: &stored.value,
            lease: stored.lease,
        })
    }

    /// The newest version with main revision <= `at`.
    fn version_at(&self, at: i64) -> Option<VersionRef<'_>> {
        let idx = self.versions.partition_point(|v| v.rev.main <= at).checked_sub(1)?;
        self.view(idx)
    }

    fn tombstone_main(&self) -> Option<i64> {
        self.versions.last().map(|v| v.rev.main)
    }

    /// Drop every version older than the newest one at or below `at`.
    fn trim_before(&mut self, at: i64) {
        let upto = self.versions.partition_point(|v| v.rev.main <= at);
        if upto > 1 {
            self.versions.drain(..upto - 1);
            if self.versions.capacity() > 2 * self.versions.len() {
                self.versions.shrink_to_fit();
            }
        }
    }
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex { generations: vec![Generation::default()] }
    }
}

impl KeyIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing is stored: the store then forgets the key.
    pub fn is_empty(&self) -> bool {
        self.generations.iter().all(Generation::is_empty)
    }

    /// Number of stored versions, tombstones included.
    pub fn stored_len(&self) -> usize {
        self.generations.iter().map(|g| g.versions.len()).sum()
    }

    fn last_revision(&self) -> Option<Revision> {
        self.generations.iter().rev().find_map(|g| g.versions.last()).map(|v| v.rev)
    }

    /// The version visible at main revision `at`, if the key is live then.
    pub fn get(&self, at: i64) -> Option<VersionRef<'_>> {
        let last = self.generations.len().checked_sub(1)?;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let Some(first) = g.versions.first() else { continue };
            if i != last && g.tombstone_main().is_some_and(|t| t <= at) {
                return None;
            }
            if first.rev.main <= at {
                return g.version_at(at);
            }
        }
        None
    }

    /// The newest version, if the key is live now.
    pub fn latest(&self) -> Option<VersionRef<'_>> {
        let g = self.generations.last()?;
        g.view(g.versions.len().checked_sub(1)?)
    }

    fn check_increasing(&self, rev: Revision) -> Result<()> {
        match self.last_revision() {
            Some(last) if rev <= last => Err(Error::Internal(format!(
                "mvcc: revisions of a key must increase: got {rev} after {last}"
            ))),
            _ => Ok(()),
        }
    }

    /// Append a put at `rev`; returns the new version's (create_revision, version).
    pub fn put(&mut self, rev: Revision, value: Box<[u8]>, lease: i64) -> Result<(i64, i64)> {
        self.check_increasing(rev)?;
        if self.generations.is_empty() {
            push_compact(&mut self.generations, Generation::default());
        }
        let Some(g) = self.generations.last_mut() else {
            return Err(Error::Internal("mvcc: key index without a generation".into()));
        };
        if g.is_empty() {
            g.create_revision = rev.main;
            g.ver = 0;
        }
        push_compact(&mut g.versions, StoredVersion { rev, value, lease });
        g.ver = g.ver.saturating_add(1);
        Ok((g.create_revision, g.ver))
    }

    /// A key whose stored history starts mid-generation, as etcd's restore rebuilds its
    /// key index from the backend: the first stored version is `rev`, of the generation
    /// created at `create_revision`, its `version`th version (older ones compacted
    /// away). Later versions are appended with [`KeyIndex::put`] and
    /// [`KeyIndex::tombstone`]; [`KeyIndex::validate`] checks the result.
    pub fn restore(
        rev: Revision,
        create_revision: i64,
        version: i64,
        value: Box<[u8]>,
        lease: i64,
    ) -> KeyIndex {
        let versions = vec![StoredVersion { rev, value, lease }];
        KeyIndex { generations: vec![Generation { create_revision, ver: version, versions }] }
    }

    /// End the current generation with a tombstone at `rev` and start an empty one.
    pub fn tombstone(&mut self, rev: Revision) -> Result<()> {
        self.check_increasing(rev)?;
        let Some(g) = self.generations.last_mut().filter(|g| !g.is_empty()) else {
            return Err(Error::Internal(format!("mvcc: tombstone at {rev} on a key that is not live")));
        };
        push_compact(&mut g.versions, StoredVersion { rev, value: Box::default(), lease: 0 });
        g.ver = g.ver.saturating_add(1);
        push_compact(&mut self.generations, Generation::default());
        Ok(())
    }

    /// Forget what no read at main revision >= `at` can see (see the module docs).
    pub fn compact(&mut self, at: i64) {
        let last = self.generations.len().saturating_sub(1);
        let first_kept = self
            .generations
            .iter()
            .enumerate()
            .position(|(i, g)| i == last || g.tombstone_main().is_none_or(|t| t >= at))
            .unwrap_or(0);
        self.generations.drain(..first_kept);
        if let Some(g) = self.generations.first_mut() {
            g.trim_before(at);
        }
    }

    /// Undo every change with main revision >= `from_main` (a transaction that failed
    /// halfway). Changes are always appended, so they are the newest ones.
    pub fn rollback(&mut self, from_main: i64) {
        while let Some(g) = self.generations.last_mut() {
            if g.is_empty() {
                if self.generations.len() < 2 {
                    return;
                }
                let prev = self.generations.len() - 2;
                if self.generations[prev].tombstone_main().is_none_or(|t| t < from_main) {
                    return;
                }
                self.generations.pop();
                continue;
            }
            if g.versions.last().is_none_or(|v| v.rev.main < from_main) {
                return;
            }
            g.versions.pop();
            g.ver = g.ver.saturating_sub(1);
            if g.is_empty() {
                *g = Generation::default();
            }
        }
    }

    /// The history as it stood at main revision `at`, for a snapshot taken then but
    /// written later: versions after `at` left out (each generation's `ver` counting
    /// them out), generations begun after `at` dropped, and a generation whose
    /// tombstone came after `at` the current, live one again. `None` when no stored
    /// version is at or below `at` (the key did not exist then); borrowed when nothing
    /// was appended since. Compaction since `at` cannot be undone: the caller must
    /// hold it off.
    pub fn as_of(&self, at: i64) -> Option<Cow<'_, KeyIndex>> {
        let newest = self.last_revision()?;
        if newest.main <= at {
            return Some(Cow::Borrowed(self));
        }
        let last = self.generations.len() - 1;
        let mut generations = Vec::new();
        let mut ends_in_tombstone = false;
        for (i, g) in self.generations.iter().enumerate() {
            // Revisions increase across generations: once one is cut, the rest came later.
            let keep = g.versions.partition_point(|v| v.rev.main <= at);
            if keep == 0 {
                break;
            }
            let cut = g.versions.len() - keep;
            let cut_i64 = i64::try_from(cut).unwrap_or(i64::MAX);
            generations.push(Generation {
                create_revision: g.create_revision,
                ver: g.ver.saturating_sub(cut_i64),
                versions: g.versions[..keep].to_vec(),
            });
            ends_in_tombstone = cut == 0 && i != last;
            if cut > 0 {
                break;
            }
        }
        if generations.is_empty() {
            return None;
        }
        if ends_in_tombstone {
            generations.push(Generation::default());
        }
        Some(Cow::Owned(KeyIndex { generations }))
    }

    /// Every stored version, oldest first, tombstones marked.
    pub fn stored(&self) -> impl Iterator<Item = StoredRef<'_>> + '_ {
        let last = self.generations.len().saturating_sub(1);
        self.generations.iter().enumerate().flat_map(move |(i, g)| {
            (0..g.versions.len()).filter_map(move |idx| {
                let tombstone = i != last && idx + 1 == g.versions.len();
                g.view(idx).map(|version| StoredRef { version, tombstone })
            })
        })
    }

    /// Structural invariants, checked when a snapshot is read back.
    pub fn validate(&self, current_revision: i64) -> std::result::Result<(), String> {
        let (last, rest) = self.generations.split_last().ok_or("no generation")?;
        if rest.iter().any(Generation::is_empty) {
            return Err("an empty generation before the current one".into());
        }
        if self.is_empty() {
            return Err("no stored version".into());
        }
        let mut prev: Option<Revision> = None;
        for g in rest.iter().chain(std::iter::once(last)) {
            validate_generation(g, &mut prev, current_revision)?;
        }
        Ok(())
    }
}

fn validate_generation(
    g: &Generation,
    prev: &mut Option<Revision>,
    current_revision: i64,
) -> std::result::Result<(), String> {
    if g.is_empty() {
        return Ok(());
    }
    let len = i64::try_from(g.versions.len()).map_err(|_| "too many versions")?;
    if g.ver < len {
        return Err(format!("generation ver {} below its {} versions", g.ver, len));
    }
    let first = g.versions.first().map_or(0, |v| v.rev.main);
    if g.create_revision < 1 || g.create_revision > first {
        return Err(format!("create revision {} outside 1..={}", g.create_revision, first));
    }
    for v in &g.versions {
        if v.rev.main < 1 || v.rev.main > current_revision || v.rev.sub < 0 {
            return Err(format!("revision {} outside 1..={}", v.rev, current_revision));
        }
        if prev.is_some_and(|p| v.rev <= p) {
            return Err(format!("revision {} does not increase", v.rev));
        }
        *prev = Some(v.rev);
    }
    Ok(())
}

impl std::fmt::Display for KeyIndex {
    /// `{2.0 3.0 4.0(t)} {6.0}`: generations oldest first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let last = self.generations.len().saturating_sub(1);
        for (i, g) in self.generations.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str("{")?;
            for (idx, v) in g.versions.iter().enumerate() {
                let sep = if idx > 0 { " " } else { "" };
                let mark = if i != last && idx + 1 == g.versions.len() { "(t)" } else { "" };
                write!(f, "{sep}{}{mark}", v.rev)?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "key_index_test.rs"]
mod key_index_test;

/// Push, growing a full Vec by its length (1, 2, 4, ...) rather than to std's minimum
/// of 4: most keys have one generation of one version, and 100,000 keys with room for
/// four of each held ~24 MB of empty slots.
fn push_compact<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(v.len().max(1));
    }
    v.push(item);
}
