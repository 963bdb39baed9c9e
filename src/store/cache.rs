//! The in-process cache of license state that validation reads, keyed by
//! key digest.
//!
//! Validation is the hot path, and a lookup through sqlx costs about
//! 100 µs, so the license row, its type's entitlements and its live
//! machines are kept in memory. Correctness rests on three rules:
//!
//! - every write transaction that changes a license or its machines names
//!   the license (`Tx::touch_license`), and its commit removes the entry;
//! - a reader takes a [`Ticket`] before it reads the database and its entry
//!   is dropped if any invalidation happened meanwhile, so a read that
//!   raced a write never repopulates stale state;
//! - on PostgreSQL the commit also sends `NOTIFY licensor_license_cache`,
//!   other instances drop the entry when it arrives, and an instance serves
//!   from its cache only while its listener is connected ([`listen`]).
//!
//! Entries also expire after a TTL, which bounds how long a change made
//! outside Licensor (hand-written SQL) can go unseen.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::LicenseCacheSettings;
use crate::store::licenses::LicenseRow;
use crate::store::machines::MachineRow;

/// The PostgreSQL channel that carries invalidations between instances.
pub const CHANNEL: &str = "licensor_license_cache";
/// The payload that clears every entry.
pub const ALL: &str = "*";

/// What validation needs of one license.
#[derive(Debug)]
pub struct CachedLicense {
    pub license: LicenseRow,
    pub entitlements: Vec<String>,
    /// The live (not deactivated) machines.
    pub machines: Vec<MachineRow>,
    filled: Instant,
}

impl CachedLicense {
    pub fn new(license: LicenseRow, entitlements: Vec<String>, machines: Vec<MachineRow>) -> Self {
        Self {
            license,
            entitlements,
            machines,
            filled: Instant::now(),
        }
    }

    /// The live machine with this fingerprint.
    pub fn machine(&self, fingerprint: &str) -> Option<&MachineRow> {
        self.machines.iter().find(|m| m.fingerprint == fingerprint)
    }
}

/// Taken before a database read whose result may be cached.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Debug, Default)]
struct Inner {
    by_digest: HashMap<String, Arc<CachedLicense>>,
    digest_of: HashMap<String, String>,
    /// Digests in insertion order, for first-in-first-out eviction. May
    /// hold digests already invalidated; they are skipped.
    order: VecDeque<String>,
}

impl Inner {
    fn remove_digest(&mut self, digest: &str) {
        if let Some(entry) = self.by_digest.remove(digest) {
            self.digest_of.remove(&entry.license.id);
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
                .retain(|d| by_digest.contains_key(d) && seen.insert(d.clone()));
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
    ttl: Duration,
}

impl LicenseCache {
    /// A cache that serves at once (`serving`), or only once [`listen`]
    /// has subscribed to other instances' changes.
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
    pub fn get(&self, digest: &str) -> Option<Arc<CachedLicense>> {
        if !self.serving.load(Ordering::Acquire) {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let entry = inner.by_digest.get(digest)?;
        (entry.filled.elapsed() < self.ttl).then(|| Arc::clone(entry))
    }

    /// Take before reading what [`insert`](Self::insert) will store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::Acquire))
    }

    /// Stores an entry read under `ticket`, unless something was
    /// invalidated since (then the read may predate a write). Answers
    /// whether it was stored.
    pub fn insert(&self, ticket: Ticket, digest: &str, entry: Arc<CachedLicense>) -> bool {
        if self.capacity == 0 || !self.serving.load(Ordering::Acquire) {
            return false;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != ticket.0 {
            return false;
        }
        inner.remove_digest(digest);
        if let Some(old_digest) = inner.digest_of.get(&entry.license.id).cloned() {
            inner.remove_digest(&old_digest);
        }
        while inner.by_digest.len() >= self.capacity {
            inner.evict_one();
        }
        inner
            .digest_of
            .insert(entry.license.id.clone(), digest.to_owned());
        inner.by_digest.insert(digest.to_owned(), entry);
        inner.order.push_back(digest.to_owned());
        inner.compact();
        true
    }

    /// Drops the entries of these licenses.
    pub fn invalidate<S: AsRef<str>>(&self, license_ids: &[S]) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for id in license_ids {
            if let Some(digest) = inner.digest_of.remove(id.as_ref()) {
                inner.by_digest.remove(&digest);
            }
        }
    }

    /// Drops every entry.
    pub fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        *inner = Inner::default();
    }

    /// Applies one change notice from another instance (or this one).
    pub fn apply_notice(&self, payload: &str) {
        if payload == ALL {
            self.clear();
        } else {
            let ids: Vec<&str> = payload.split(',').filter(|s| !s.is_empty()).collect();
            self.invalidate(&ids);
        }
    }

    /// Starts or stops serving from memory; either way the entries go.
    pub fn set_serving(&self, serving: bool) {
        self.clear();
        self.serving
            .store(serving && self.capacity > 0, Ordering::Release);
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
}

/// What a write transaction changed, for the cache.
#[derive(Debug, Default)]
pub(crate) enum Touched {
    #[default]
    Nothing,
    Licenses(Vec<String>),
    All,
}

impl Touched {
    pub(crate) fn license(&mut self, id: &str) {
        match self {
            Touched::Nothing => *self = Touched::Licenses(vec![id.to_owned()]),
            Touched::Licenses(ids) => {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_owned());
                }
            }
            Touched::All => {}
        }
    }

    pub(crate) fn all(&mut self) {
        *self = Touched::All;
    }

    /// The NOTIFY payloads for these changes: ids joined by commas, each
    /// under PostgreSQL's 8000-byte payload limit.
    pub(crate) fn payloads(&self) -> Vec<String> {
        match self {
            Touched::Nothing => Vec::new(),
            Touched::All => vec![ALL.to_owned()],
            Touched::Licenses(ids) => {
                let mut payloads = Vec::new();
                let mut current = String::new();
                for id in ids {
                    if !current.is_empty() && current.len() + id.len() + 1 > 7_000 {
                        payloads.push(std::mem::take(&mut current));
                    }
                    if !current.is_empty() {
                        current.push(',');
                    }
                    current.push_str(id);
                }
                if !current.is_empty() {
                    payloads.push(current);
                }
                payloads
            }
        }
    }

    pub(crate) fn apply(&self, cache: &LicenseCache) {
        match self {
            Touched::Nothing => {}
            Touched::All => cache.clear(),
            Touched::Licenses(ids) => cache.invalidate(ids),
        }
    }
}

/// Keeps this instance's cache in step with the other instances' writes
/// (PostgreSQL only): listens on [`CHANNEL`] and serves from memory only
/// while subscribed. A lost connection stops serving and clears the cache
/// until the subscription is back, since notices sent meanwhile are lost.
pub async fn listen(url: String, cache: Arc<LicenseCache>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match subscribe(&url).await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(250);
                cache.set_serving(true);
                tracing::debug!("license cache: subscribed to change notices");
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notice)) => cache.apply_notice(notice.payload()),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "license cache: change notices interrupted");
                            break;
                        }
                    }
                }
                cache.set_serving(false);
            }
            Err(e) => {
                tracing::warn!(error = %e, "license cache: cannot subscribe to change notices; validation reads the database");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn subscribe(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> LicenseRow {
        LicenseRow {
            id: id.to_owned(),
            key_last4: "AAAA".to_owned(),
            key_ciphertext: Vec::new(),
            product_id: "p".to_owned(),
            product_code: "app".to_owned(),
            product_name: "App".to_owned(),
            license_type_id: "t".to_owned(),
            license_type_name: "Standard".to_owned(),
            organization_id: None,
            assigned_email: None,
            status: "active".to_owned(),
            is_trial: 0,
            max_machines: 1,
            machines_used: 0,
            issued_at: 0,
            expires_at: None,
            first_activated_at: None,
            version: 1,
            created_at: 0,
            updated_at: 0,
            duration_days: None,
            floating: 0,
            heartbeat_window_secs: None,
            grace_days: 0,
            customer_may_deactivate: 1,
            deactivation_limit: None,
            deactivation_period_days: None,
            expiry_from: "issue".to_owned(),
            offline_checkin_days: 0,
        }
    }

    fn entry(id: &str) -> Arc<CachedLicense> {
        Arc::new(CachedLicense::new(row(id), Vec::new(), Vec::new()))
    }

    fn cache(entries: usize) -> LicenseCache {
        LicenseCache::new(
            LicenseCacheSettings {
                entries,
                ttl: Duration::from_secs(60),
            },
            true,
        )
    }

    #[test]
    fn an_entry_is_served_until_its_license_is_invalidated() {
        let cache = cache(10);
        assert!(cache.insert(cache.ticket(), "d1", entry("l1")));
        assert!(cache.insert(cache.ticket(), "d2", entry("l2")));
        assert_eq!(cache.get("d1").unwrap().license.id, "l1");
        cache.invalidate(&["l1"]);
        assert!(cache.get("d1").is_none());
        assert_eq!(cache.get("d2").unwrap().license.id, "l2");
        cache.apply_notice("l2,l9");
        assert!(cache.is_empty());
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_stored() {
        let cache = cache(10);
        let ticket = cache.ticket();
        // A write to any license commits between the read and the insert.
        cache.invalidate(&["l1"]);
        assert!(!cache.insert(ticket, "d1", entry("l1")));
        assert!(cache.get("d1").is_none());
        assert!(cache.insert(cache.ticket(), "d1", entry("l1")));
    }

    #[test]
    fn the_oldest_entries_make_room_and_the_size_holds() {
        let cache = cache(3);
        for i in 0..10 {
            assert!(cache.insert(cache.ticket(), &format!("d{i}"), entry(&format!("l{i}"))));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get("d6").is_none());
        for i in 7..10 {
            assert!(cache.get(&format!("d{i}")).is_some());
        }
        // Churn on one license (invalidate, fill again) keeps the queue bounded.
        for _ in 0..5_000 {
            cache.invalidate(&["l9"]);
            cache.insert(cache.ticket(), "d9", entry("l9"));
        }
        let inner = cache.inner.read().unwrap();
        assert!(
            inner.order.len() <= 3 * 2 + 1024 + 1,
            "{}",
            inner.order.len()
        );
    }

    #[test]
    fn a_license_filled_under_a_new_digest_replaces_its_old_entry() {
        let cache = cache(10);
        cache.insert(cache.ticket(), "old", entry("l1"));
        cache.insert(cache.ticket(), "new", entry("l1"));
        assert!(cache.get("old").is_none());
        cache.invalidate(&["l1"]);
        assert!(cache.get("new").is_none());
    }

    #[test]
    fn entries_expire_and_a_cache_not_serving_holds_nothing() {
        let cache = LicenseCache::new(
            LicenseCacheSettings {
                entries: 10,
                ttl: Duration::from_millis(1),
            },
            true,
        );
        cache.insert(cache.ticket(), "d1", entry("l1"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get("d1").is_none());

        let off = LicenseCache::new(LicenseCacheSettings::default(), false);
        assert!(!off.insert(off.ticket(), "d1", entry("l1")));
        off.set_serving(true);
        assert!(off.insert(off.ticket(), "d1", entry("l1")));
        off.set_serving(false);
        assert!(off.get("d1").is_none() && off.is_empty());

        let disabled = cache_with_no_entries();
        assert!(!disabled.is_serving());
    }

    fn cache_with_no_entries() -> LicenseCache {
        let cache = cache(0);
        cache.set_serving(true);
        cache
    }

    #[test]
    fn notice_payloads_stay_under_the_postgres_limit() {
        let mut touched = Touched::default();
        assert!(touched.payloads().is_empty());
        for i in 0..1_000 {
            touched.license(&format!("0190a3b2-0000-7000-8000-{i:012}"));
        }
        touched.license("0190a3b2-0000-7000-8000-000000000001");
        let payloads = touched.payloads();
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let ids: usize = payloads.iter().map(|p| p.split(',').count()).sum();
        assert_eq!(ids, 1_000);
        touched.all();
        assert_eq!(touched.payloads(), vec![ALL.to_owned()]);
    }
}
