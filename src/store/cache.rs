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
//! - every write to what an entry holds, by Licensor or anyone else (a
//!   hand-written `UPDATE`), is recorded by triggers in the database (the
//!   change feed, migration 0005): on PostgreSQL they send `NOTIFY
//!   licensor_license_cache` at commit and every instance drops the entry
//!   when it arrives ([`listen`]); on SQLite they append to
//!   `license_changes`, which the server reads every second
//!   ([`follow_changes`]). An instance serves from its cache only while it
//!   follows the feed.
//!
//! Entries then need no expiry; a TTL can still be set
//! (`license_cache_ttl_secs`) as a bound of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::AnyPool;

use crate::config::LicenseCacheSettings;
use crate::store::licenses::LicenseRow;
use crate::store::machines::MachineRow;

/// The PostgreSQL channel that carries invalidations between instances.
pub const CHANNEL: &str = "licensor_license_cache";
/// The payload that clears every entry.
pub const ALL: &str = "*";

/// A key's SHA-256, the cache's key.
pub type Digest = [u8; 32];

/// What every license of one type shares: its product and type columns
/// and entitlements, held once however many of its licenses are cached.
#[derive(Debug)]
struct TypeState {
    product_id: String,
    product_code: String,
    product_name: String,
    license_type_id: String,
    license_type_name: String,
    duration_days: Option<i64>,
    floating: i64,
    heartbeat_window_secs: Option<i64>,
    grace_days: i64,
    customer_may_deactivate: i64,
    deactivation_limit: Option<i64>,
    deactivation_period_days: Option<i64>,
    expiry_from: String,
    offline_checkin_days: i64,
    entitlements: Vec<String>,
}

/// An id held in 16 bytes when it is a canonical (lower-case, hyphenated)
/// UUID, as every id Licensor issues is; as text otherwise. Reads back
/// exactly as stored either way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CompactId {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl CompactId {
    fn new(id: &str) -> Self {
        match uuid::Uuid::try_parse(id) {
            Ok(u) if u.hyphenated().encode_lower(&mut [0u8; 36]) == id => {
                CompactId::Uuid(u.into_bytes())
            }
            _ => CompactId::Text(id.into()),
        }
    }

    fn to_text(&self) -> String {
        match self {
            CompactId::Uuid(bytes) => {
                let mut buf = [0u8; 36];
                String::from(
                    &*uuid::Uuid::from_bytes(*bytes)
                        .hyphenated()
                        .encode_lower(&mut buf),
                )
            }
            CompactId::Text(text) => String::from(&**text),
        }
    }
}

/// A license status without an allocation for the three known ones.
fn status_text(status: String) -> std::borrow::Cow<'static, str> {
    match status.as_str() {
        "active" => "active".into(),
        "suspended" => "suspended".into(),
        "revoked" => "revoked".into(),
        _ => status.into(),
    }
}

/// A live machine, without what validation never reads.
#[derive(Debug)]
struct MachineState {
    id: CompactId,
    fingerprint: Box<str>,
    name: Option<Box<str>>,
    platform: Option<Box<str>>,
    activated_at: i64,
    last_heartbeat_at: i64,
}

/// What validation needs of one license, compact: a cache of 100,000
/// licenses should stay well inside the server's memory budget.
#[derive(Debug)]
pub struct CachedLicense {
    id: CompactId,
    key_last4: Box<str>,
    organization_id: Option<CompactId>,
    assigned_email: Option<Box<str>>,
    status: std::borrow::Cow<'static, str>,
    is_trial: i64,
    max_machines: i64,
    machines_used: i64,
    issued_at: i64,
    expires_at: Option<i64>,
    first_activated_at: Option<i64>,
    /// 0 until known: the usage batch writer records it in place after
    /// it marks the license (no invalidation, no second read).
    first_validated_at: AtomicI64,
    version: i64,
    created_at: i64,
    updated_at: i64,
    kind: Arc<TypeState>,
    machines: Box<[MachineState]>,
    filled: Instant,
}

impl CachedLicense {
    fn new(row: LicenseRow, kind: Arc<TypeState>, machines: Vec<MachineRow>) -> Self {
        let machines = machines
            .into_iter()
            .map(|m| MachineState {
                id: CompactId::new(&m.id),
                fingerprint: m.fingerprint.into(),
                name: m.name.map(Into::into),
                platform: m.platform.map(Into::into),
                activated_at: m.activated_at,
                last_heartbeat_at: m.last_heartbeat_at,
            })
            .collect();
        Self {
            id: CompactId::new(&row.id),
            key_last4: row.key_last4.into(),
            organization_id: row.organization_id.as_deref().map(CompactId::new),
            assigned_email: row.assigned_email.map(Into::into),
            status: status_text(row.status),
            is_trial: row.is_trial,
            max_machines: row.max_machines,
            machines_used: row.machines_used,
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            first_activated_at: row.first_activated_at,
            first_validated_at: AtomicI64::new(row.first_validated_at.unwrap_or(0)),
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            kind,
            machines,
            filled: Instant::now(),
        }
    }

    #[cfg(test)]
    fn id(&self) -> String {
        self.id.to_text()
    }

    /// The license as the store reads it (without the key's ciphertext,
    /// which validation never needs).
    pub fn row(&self) -> LicenseRow {
        let k = &self.kind;
        LicenseRow {
            id: self.id.to_text(),
            key_last4: String::from(&*self.key_last4),
            key_ciphertext: Vec::new(),
            product_id: k.product_id.clone(),
            product_code: k.product_code.clone(),
            product_name: k.product_name.clone(),
            license_type_id: k.license_type_id.clone(),
            license_type_name: k.license_type_name.clone(),
            organization_id: self.organization_id.as_ref().map(CompactId::to_text),
            assigned_email: self.assigned_email.as_deref().map(str::to_owned),
            status: String::from(&*self.status),
            is_trial: self.is_trial,
            max_machines: self.max_machines,
            machines_used: self.machines_used,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            first_activated_at: self.first_activated_at,
            first_validated_at: match self.first_validated_at.load(Ordering::Relaxed) {
                0 => None,
                at => Some(at),
            },
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            duration_days: k.duration_days,
            floating: k.floating,
            heartbeat_window_secs: k.heartbeat_window_secs,
            grace_days: k.grace_days,
            customer_may_deactivate: k.customer_may_deactivate,
            deactivation_limit: k.deactivation_limit,
            deactivation_period_days: k.deactivation_period_days,
            expiry_from: k.expiry_from.clone(),
            offline_checkin_days: k.offline_checkin_days,
        }
    }

    /// The license type's entitlement codes, sorted.
    pub fn entitlements(&self) -> &[String] {
        &self.kind.entitlements
    }

    /// The live machine with this fingerprint.
    pub fn machine(&self, fingerprint: &str) -> Option<MachineRow> {
        self.machines
            .iter()
            .find(|m| &*m.fingerprint == fingerprint)
            .map(|m| MachineRow {
                id: m.id.to_text(),
                license_id: self.id.to_text(),
                fingerprint: String::from(&*m.fingerprint),
                name: m.name.as_deref().map(str::to_owned),
                platform: m.platform.as_deref().map(str::to_owned),
                ip: None,
                activated_at: m.activated_at,
                last_heartbeat_at: m.last_heartbeat_at,
                deactivated_at: None,
                deactivated_by: None,
            })
    }
}

fn type_state(row: &LicenseRow, entitlements: Vec<String>) -> TypeState {
    TypeState {
        product_id: row.product_id.clone(),
        product_code: row.product_code.clone(),
        product_name: row.product_name.clone(),
        license_type_id: row.license_type_id.clone(),
        license_type_name: row.license_type_name.clone(),
        duration_days: row.duration_days,
        floating: row.floating,
        heartbeat_window_secs: row.heartbeat_window_secs,
        grace_days: row.grace_days,
        customer_may_deactivate: row.customer_may_deactivate,
        deactivation_limit: row.deactivation_limit,
        deactivation_period_days: row.deactivation_period_days,
        expiry_from: row.expiry_from.clone(),
        offline_checkin_days: row.offline_checkin_days,
        entitlements,
    }
}

/// Taken before a database read whose result may be cached.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

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
    pub fn insert(
        &self,
        ticket: Ticket,
        digest: &Digest,
        row: LicenseRow,
        entitlements: Vec<String>,
        machines: Vec<MachineRow>,
    ) -> Arc<CachedLicense> {
        let kind = type_state(&row, entitlements);
        if self.capacity == 0 || !self.serving.load(Ordering::Acquire) {
            return Arc::new(CachedLicense::new(row, Arc::new(kind), machines));
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != ticket.0 {
            drop(inner);
            return Arc::new(CachedLicense::new(row, Arc::new(kind), machines));
        }
        let kind = match inner.types.get(&row.license_type_id) {
            Some(known) => Arc::clone(known),
            None => {
                let kind = Arc::new(kind);
                inner
                    .types
                    .insert(row.license_type_id.clone(), Arc::clone(&kind));
                kind
            }
        };
        let entry = Arc::new(CachedLicense::new(row, kind, machines));
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

    /// Drops the entries of these licenses.
    pub fn invalidate<S: AsRef<str>>(&self, license_ids: &[S]) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for id in license_ids {
            if let Some(digest) = inner.digest_of.remove(&CompactId::new(id.as_ref())) {
                inner.by_digest.remove(&digest);
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

    /// Applies one change notice: a license id, ids joined by commas, or
    /// [`ALL`].
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

    pub(crate) fn apply(&self, cache: &LicenseCache) {
        match self {
            Touched::Nothing => {}
            Touched::All => cache.clear(),
            Touched::Licenses(ids) => cache.invalidate(ids),
        }
    }
}

/// Follows the change feed on PostgreSQL: listens on [`CHANNEL`], where
/// the triggers of every write (this instance's, another's, hand-written
/// SQL) arrive, and serves from memory only while subscribed. A lost
/// connection stops serving and clears the cache until the subscription is
/// back, since notices sent meanwhile are lost.
pub async fn listen(url: String, cache: Arc<LicenseCache>) {
    follow_for_ever(&cache, || async {
        let mut listener = subscribe(&url).await.map_err(Unfollowed::NotStarted)?;
        cache.set_serving(true);
        tracing::debug!("license cache: subscribed to change notices");
        loop {
            match listener.try_recv().await {
                Ok(Some(notice)) => cache.apply_notice(notice.payload()),
                Ok(None) => return Ok(()),
                Err(e) => return Err(Unfollowed::Lost(e)),
            }
        }
    })
    .await;
}

/// Why following the change feed stopped.
enum Unfollowed {
    /// It could not start (no connection, no first read).
    NotStarted(sqlx::Error),
    /// It was followed, then lost.
    Lost(sqlx::Error),
}

/// Follows a change feed for ever: `follow` turns serving on once it
/// follows and returns when it no longer does; serving then stops (the
/// cache empties) and, after a pause that grows while it cannot start
/// again, it follows again.
async fn follow_for_ever<F, Fut>(cache: &LicenseCache, mut follow: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Unfollowed>>,
{
    const FIRST_PAUSE: Duration = Duration::from_millis(250);
    let mut pause = FIRST_PAUSE;
    loop {
        match follow().await {
            Ok(()) => pause = FIRST_PAUSE,
            Err(Unfollowed::Lost(e)) => {
                pause = FIRST_PAUSE;
                tracing::warn!(error = %e, "license cache: lost the change feed; validation reads the database until it is back");
            }
            Err(Unfollowed::NotStarted(e)) => {
                tracing::warn!(error = %e, "license cache: cannot follow the change feed; validation reads the database");
            }
        }
        cache.set_serving(false);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

async fn subscribe(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// How often the SQLite server reads the change feed: the bound on how
/// long a change made outside Licensor goes unseen.
pub const FEED_POLL_EVERY: Duration = Duration::from_secs(1);
/// Change rows read per query.
const FEED_BATCH: i64 = 1_000;

/// Follows the change feed on SQLite: every [`FEED_POLL_EVERY`] applies
/// the rows the triggers appended to `license_changes` since the last pass
/// ([`apply_changes`]). It serves from memory only while the feed reads:
/// a failed read stops serving and clears the cache, and following starts
/// again (from the newest row, with an empty cache) when the database
/// answers.
pub async fn follow_changes(pool: AnyPool, cache: Arc<LicenseCache>) {
    follow_for_ever(&cache, || async {
        let mut cursor = latest_change(&pool).await.map_err(Unfollowed::NotStarted)?;
        // Clears anything filled before the cursor was read.
        cache.set_serving(true);
        // Rows written while no server ran (`licensor seed`, SQL).
        delete_applied(&pool, cursor).await;
        let mut tick = tokio::time::interval(FEED_POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            cursor = apply_changes(&pool, &cache, cursor)
                .await
                .map_err(Unfollowed::Lost)?;
        }
    })
    .await;
}

/// The newest row of the SQLite change feed (0 when it is empty).
async fn latest_change(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM license_changes")
        .fetch_one(pool)
        .await?;
    Ok(seq)
}

/// One pass over the SQLite change feed: drops the entries of the changes
/// after `cursor` and returns the new cursor. The rows applied are then
/// deleted (SQLite has one server).
async fn apply_changes(
    pool: &AnyPool,
    cache: &LicenseCache,
    cursor: i64,
) -> Result<i64, sqlx::Error> {
    let mut next = cursor;
    loop {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, license_id FROM license_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(next)
        .bind(FEED_BATCH)
        .fetch_all(pool)
        .await?;
        let Some(&(last, _)) = rows.last() else {
            break;
        };
        next = last;
        if rows.iter().any(|(_, id)| id == ALL) {
            cache.clear();
        } else {
            let ids: Vec<&str> = rows.iter().map(|(_, id)| id.as_str()).collect();
            cache.invalidate(&ids);
        }
        if (rows.len() as i64) < FEED_BATCH {
            break;
        }
    }
    if next > cursor {
        delete_applied(pool, next).await;
    }
    Ok(next)
}

/// Deletes the feed's rows up to `seq`; failing only leaves them for the
/// next pass that applies a change.
async fn delete_applied(pool: &AnyPool, seq: i64) {
    if let Err(e) = sqlx::query("DELETE FROM license_changes WHERE seq <= $1")
        .bind(seq)
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, "license cache: cannot delete applied changes; a later pass will");
    }
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
            first_validated_at: None,
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

    fn digest(name: &str) -> Digest {
        let mut d = [0u8; 32];
        d[..name.len()].copy_from_slice(name.as_bytes());
        d
    }

    /// Fills `name` with license `id` under a fresh ticket; whether stored.
    fn fill(cache: &LicenseCache, name: &str, id: &str) -> bool {
        fill_with(cache, cache.ticket(), name, id)
    }

    fn fill_with(cache: &LicenseCache, ticket: Ticket, name: &str, id: &str) -> bool {
        cache.insert(
            ticket,
            &digest(name),
            row(id),
            vec!["pro".to_owned()],
            Vec::new(),
        );
        cache.get(&digest(name)).is_some()
    }

    fn get(cache: &LicenseCache, name: &str) -> Option<Arc<CachedLicense>> {
        cache.get(&digest(name))
    }

    fn cache(entries: usize) -> LicenseCache {
        LicenseCache::new(
            LicenseCacheSettings {
                entries,
                ttl: Some(Duration::from_secs(60)),
            },
            true,
        )
    }

    #[test]
    fn an_entry_is_served_until_its_license_is_invalidated() {
        let cache = cache(10);
        assert!(fill(&cache, "d1", "l1"));
        assert!(fill(&cache, "d2", "l2"));
        assert_eq!(get(&cache, "d1").unwrap().id(), "l1");
        cache.invalidate(&["l1"]);
        assert!(get(&cache, "d1").is_none());
        assert_eq!(get(&cache, "d2").unwrap().id(), "l2");
        cache.apply_notice("l2,l9");
        assert!(cache.is_empty());
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_stored() {
        let cache = cache(10);
        let ticket = cache.ticket();
        // A write to any license commits between the read and the insert.
        cache.invalidate(&["l1"]);
        assert!(!fill_with(&cache, ticket, "d1", "l1"));
        assert!(get(&cache, "d1").is_none());
        assert!(fill(&cache, "d1", "l1"));
    }

    #[test]
    fn the_oldest_entries_make_room_and_the_size_holds() {
        let cache = cache(3);
        for i in 0..10 {
            assert!(fill(&cache, &format!("d{i}"), &format!("l{i}")));
            assert!(cache.len() <= 3);
        }
        assert!(get(&cache, "d6").is_none());
        for i in 7..10 {
            assert!(get(&cache, &format!("d{i}")).is_some());
        }
        // Churn on one license (invalidate, fill again) keeps the queue bounded.
        for _ in 0..5_000 {
            cache.invalidate(&["l9"]);
            fill(&cache, "d9", "l9");
        }
        let inner = cache.inner.read().unwrap();
        assert!(
            inner.order.len() <= 3 * 2 + 1024 + 1,
            "{}",
            inner.order.len()
        );
    }

    #[test]
    fn licenses_of_one_type_share_its_state_and_read_back_whole() {
        let cache = cache(10);
        fill(&cache, "d1", "l1");
        fill(&cache, "d2", "l2");
        let (a, b) = (get(&cache, "d1").unwrap(), get(&cache, "d2").unwrap());
        assert!(Arc::ptr_eq(&a.kind, &b.kind));
        assert_eq!(a.entitlements(), ["pro".to_owned()]);
        let back = a.row();
        let mut want = row("l1");
        want.key_ciphertext = Vec::new();
        assert_eq!(format!("{back:?}"), format!("{want:?}"));
        cache.clear();
        assert!(cache.inner.read().unwrap().types.is_empty());
    }

    #[test]
    fn compact_ids_read_back_exactly() {
        let canonical = crate::domain::id::new_id();
        assert!(matches!(CompactId::new(&canonical), CompactId::Uuid(_)));
        let upper = canonical.to_uppercase();
        for id in [canonical.as_str(), upper.as_str(), "lic-42", ""] {
            assert_eq!(CompactId::new(id).to_text(), id);
        }
        assert!(matches!(CompactId::new(&upper), CompactId::Text(_)));
        assert!(matches!(
            status_text("active".to_owned()),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(status_text("odd".to_owned()), "odd");
    }

    #[test]
    fn a_first_validation_is_noted_in_place_once() {
        let cache = cache(10);
        fill(&cache, "d1", "l1");
        assert_eq!(get(&cache, "d1").unwrap().row().first_validated_at, None);
        cache.note_first_validated("l1", 100);
        cache.note_first_validated("l1", 200);
        cache.note_first_validated("unknown", 300);
        assert_eq!(
            get(&cache, "d1").unwrap().row().first_validated_at,
            Some(100)
        );
    }

    #[test]
    fn a_license_filled_under_a_new_digest_replaces_its_old_entry() {
        let cache = cache(10);
        fill(&cache, "old", "l1");
        fill(&cache, "new", "l1");
        assert!(get(&cache, "old").is_none());
        cache.invalidate(&["l1"]);
        assert!(get(&cache, "new").is_none());
    }

    #[test]
    fn entries_expire_and_a_cache_not_serving_holds_nothing() {
        let cache = LicenseCache::new(
            LicenseCacheSettings {
                entries: 10,
                ttl: Some(Duration::from_millis(1)),
            },
            true,
        );
        fill(&cache, "d1", "l1");
        std::thread::sleep(Duration::from_millis(5));
        assert!(get(&cache, "d1").is_none());

        let off = LicenseCache::new(LicenseCacheSettings::default(), false);
        assert!(!fill(&off, "d1", "l1"));
        off.set_serving(true);
        assert!(fill(&off, "d1", "l1"));
        off.set_serving(false);
        assert!(get(&off, "d1").is_none() && off.is_empty());

        let disabled = cache_with_no_entries();
        assert!(!disabled.is_serving());
    }

    fn cache_with_no_entries() -> LicenseCache {
        let cache = cache(0);
        cache.set_serving(true);
        cache
    }
}
