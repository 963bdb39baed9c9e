//! The in-process cache of license state that validation reads, keyed by
//! key digest.
//!
//! Validation is the hot path, and a lookup through sqlx costs about
//! 100 µs, so the license row, its type's entitlements and its live
//! machines are kept in memory: an entry holds the machines of a license
//! with at most [`HELD_MACHINES`] of them; a larger license's machines are
//! looked up one fingerprint at a time and kept apart (`looked_up`), so
//! that neither a fill nor a change costs more with the license's size.
//! Correctness rests on three rules:
//!
//! - every write transaction that changes a license or one of its machines
//!   names it (`Tx::touch_license`, `Tx::touch_machine`), and its commit
//!   removes what the cache held of it ([`Changes`]);
//! - a reader takes a [`Ticket`] before it reads the database and its entry
//!   is dropped if any invalidation happened meanwhile, so a read that
//!   raced a write never repopulates stale state;
//! - every write to what an entry holds, by Licensor or anyone else (a
//!   hand-written `UPDATE`), is recorded by triggers in the database (the
//!   change feed, migrations 0005 and 0008): on PostgreSQL they send `NOTIFY
//!   licensor_license_cache` at commit and every instance drops the entry
//!   when it arrives ([`listen`]); on SQLite they append to
//!   `license_changes`, which the server reads every second
//!   ([`follow_changes`]). An instance serves from its cache only while it
//!   follows the feed.
//!
//! Entries then need no expiry; a TTL can still be set
//! (`license_cache_ttl_secs`) as a bound of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::config::LicenseCacheSettings;
use crate::store::machines::MachineRow;

mod changes;
mod entry;
mod feed;
mod looked_up;

pub use changes::Changes;
pub use entry::Digest;
pub use entry::{CachedLicense, CachedParts, Fill, LiveMachines};
use entry::{CompactId, MachineState, TypeState, type_state};
pub use feed::{FEED_POLL_EVERY, follow_changes, listen};
use looked_up::LookedUp;

/// The most live machines an entry holds; a fill reads at most one more to
/// learn that a license has more ([`LiveMachines::TooMany`]).
pub const HELD_MACHINES: i64 = 16;

/// The PostgreSQL channel that carries invalidations between instances.
pub const CHANNEL: &str = "licensor_license_cache";
/// The payload that clears every entry.
pub const ALL: &str = "*";

/// Taken before a database read whose result may be cached.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// What the cache knows of a license's machine with some fingerprint.
#[derive(Debug)]
pub enum MachineLookup {
    /// The live machine, or `None`: no live machine has it.
    Known(Option<MachineRow>),
    /// Not known: read it, then [`LicenseCache::insert_machine`] with this.
    Unknown(Ticket),
}

/// Hashes a digest by its first eight bytes: it is already a SHA-256, and
/// only keys of real licenses are ever cached, so nobody can choose
/// colliding ones. Saves SipHash on every validation.
#[derive(Debug, Default, Clone, Copy)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its length, then its bytes.
        if let Some(head) = bytes.first_chunk::<8>() {
            self.0 ^= u64::from_le_bytes(*head);
        }
    }

    fn write_usize(&mut self, _len: usize) {}
}

type DigestMap<V> = HashMap<Digest, V, std::hash::BuildHasherDefault<DigestHasher>>;

#[derive(Debug, Default)]
struct Inner {
    by_digest: DigestMap<Arc<CachedLicense>>,
    digest_of: HashMap<CompactId, Digest>,
    types: HashMap<String, Arc<TypeState>>,
    looked_up: LookedUp,
    /// Digests in insertion order, for first-in-first-out eviction. May
    /// hold digests already invalidated; they are skipped.
    order: VecDeque<Digest>,
}

impl Inner {
    fn remove_digest(&mut self, digest: &Digest) {
        if let Some(entry) = self.by_digest.remove(digest) {
            self.digest_of.remove(&entry.id);
        }
    }

    fn remove_digest_of(&mut self, id: &CompactId) {
        if let Some(digest) = self.digest_of.remove(id) {
            self.by_digest.remove(&digest);
        }
    }

    fn evict_one(&mut self) {
        while let Some(digest) = self.order.pop_front() {
            if self.by_digest.contains_key(&digest) {
                self.remove_digest(&digest);
                return;
            }
        }
    }

    /// Drops queued digests that no longer have an entry, once the queue
    /// has grown well past the map (entries invalidated and filled again).
    fn compact(&mut self) {
        if self.order.len() > self.by_digest.len() * 2 + 1024 {
            let mut seen = std::collections::HashSet::with_capacity(self.by_digest.len());
            let by_digest = &self.by_digest;
            self.order
                .retain(|d| by_digest.contains_key(d) && seen.insert(*d));
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct LicenseCache {
    inner: RwLock<Inner>,
    epoch: AtomicU64,
    serving: AtomicBool,
    capacity: usize,
    ttl: Option<Duration>,
}

impl LicenseCache {
    /// A cache that serves at once (`serving`), or only once the change
    /// feed is followed ([`listen`], [`follow_changes`]).
    pub fn new(settings: LicenseCacheSettings, serving: bool) -> Self {
        Self {
            inner: RwLock::default(),
            epoch: AtomicU64::new(0),
            serving: AtomicBool::new(serving && settings.entries > 0),
            capacity: settings.entries,
            ttl: settings.ttl,
        }
    }

    /// The entry for a key digest, if present, fresh and the cache serving.
    pub fn get(&self, digest: &Digest) -> Option<Arc<CachedLicense>> {
        if !self.serving.load(Ordering::Acquire) {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let entry = inner.by_digest.get(digest)?;
        self.ttl
            .is_none_or(|ttl| entry.filled.elapsed() < ttl)
            .then(|| Arc::clone(entry))
    }

    /// Take before reading what [`insert`](Self::insert) will store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::Acquire))
    }

    /// Builds the entry for what was read under `ticket` and stores it,
    /// unless something was invalidated since (then the read may predate a
    /// write): the entry serves this one request only.
    pub fn insert(&self, ticket: Ticket, digest: &Digest, fill: Fill) -> Arc<CachedLicense> {
        let Fill {
            row,
            type_entitlements,
            own_entitlements,
            machines,
        } = fill;
        let kind = type_state(&row, type_entitlements);
        let type_id = row.license_type_id.to_string();
        let alone = |kind| Arc::new(CachedLicense::new(row, kind, own_entitlements, machines));
        if self.capacity == 0 || !self.serving.load(Ordering::Acquire) {
            return alone(Arc::new(kind));
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != ticket.0 {
            drop(inner);
            return alone(Arc::new(kind));
        }
        let kind = match inner.types.get(type_id.as_str()) {
            Some(known) => Arc::clone(known),
            None => {
                let kind = Arc::new(kind);
                inner.types.insert(type_id, Arc::clone(&kind));
                kind
            }
        };
        let entry = alone(kind);
        inner.remove_digest(digest);
        if let Some(old_digest) = inner.digest_of.get(&entry.id).copied() {
            inner.remove_digest(&old_digest);
        }
        while inner.by_digest.len() >= self.capacity {
            inner.evict_one();
        }
        inner.digest_of.insert(entry.id.clone(), *digest);
        inner.by_digest.insert(*digest, Arc::clone(&entry));
        inner.order.push_back(*digest);
        inner.compact();
        entry
    }

    /// The machine of `entry`'s license with this fingerprint: from the
    /// entry, or from what an earlier lookup found.
    pub fn machine(&self, entry: &CachedLicense, fingerprint: &str) -> MachineLookup {
        if let Some(held) = entry.held_machine(fingerprint) {
            return MachineLookup::Known(held);
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        // Under the read lock: no invalidation can slip in before it.
        let ticket = self.ticket();
        if !self.serving.load(Ordering::Acquire) {
            return MachineLookup::Unknown(ticket);
        }
        match inner.looked_up.get(&entry.id, fingerprint) {
            Some(slot) if slot.is_fresh(self.ttl) => {
                MachineLookup::Known(slot.machine.as_ref().map(|m| m.row(&entry.id)))
            }
            _ => MachineLookup::Unknown(ticket),
        }
    }

    /// Keeps what a lookup read under `ticket` (the live machine, or none)
    /// for a license whose entry does not hold its machines, unless
    /// something changed since.
    pub fn insert_machine(
        &self,
        ticket: Ticket,
        entry: &CachedLicense,
        fingerprint: &str,
        machine: Option<&MachineRow>,
    ) {
        if self.capacity == 0 || !self.serving.load(Ordering::Acquire) || entry.machines.is_some() {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) == ticket.0 {
            let machine = machine.map(MachineState::new);
            inner
                .looked_up
                .insert(&entry.id, fingerprint, machine, self.capacity);
        }
    }

    /// Drops what the cache holds of what changed: a license's entry, a
    /// machine's slot (and the entry, if it holds the license's machines),
    /// or everything.
    pub fn apply(&self, changes: &Changes) {
        if changes.all {
            self.clear();
            return;
        }
        if changes.is_empty() {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for id in &changes.licenses {
            inner.remove_digest_of(&CompactId::new(id));
        }
        for (license_id, fingerprint) in &changes.machines {
            let id = CompactId::new(license_id);
            inner.looked_up.remove(&id, fingerprint);
            let holds_machines = inner
                .digest_of
                .get(&id)
                .and_then(|d| inner.by_digest.get(d))
                .is_some_and(|entry| entry.machines.is_some());
            if holds_machines {
                inner.remove_digest_of(&id);
            }
        }
    }

    /// Records in place that a license had its first successful
    /// validation (a fact that never changes back).
    pub fn note_first_validated(&self, license_id: &str, at: i64) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = inner
            .digest_of
            .get(&CompactId::new(license_id))
            .and_then(|d| inner.by_digest.get(d))
        {
            let _ = entry.first_validated_at.compare_exchange(
                0,
                at,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Drops every entry (freed after the lock is released: a million of
    /// them take a while).
    pub fn clear(&self) {
        let old = {
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            self.epoch.fetch_add(1, Ordering::AcqRel);
            std::mem::take(&mut *inner)
        };
        drop(old);
    }

    /// Applies change notices (see [`Changes`]), joined by commas.
    pub fn apply_notice(&self, payload: &str) {
        let mut changes = Changes::default();
        changes.notice(payload);
        self.apply(&changes);
    }

    /// Starts or stops serving from memory; either way the entries go.
    pub fn set_serving(&self, serving: bool) {
        self.clear();
        self.serving
            .store(serving && self.capacity > 0, Ordering::Release);
    }

    /// How many licenses it may hold; 0: the cache is off.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_digest
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Machines of large licenses known from lookups.
    pub fn looked_up_machines(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .looked_up
            .len()
    }
}

#[cfg(test)]
mod tests;
