use super::*;
use crate::domain::id::{LicenseId, LicenseTypeId, ProductId};
use crate::store::licenses::LicenseRow;

fn row(id: &str) -> LicenseRow {
    LicenseRow {
        id: LicenseId::from_stored(id.to_owned()),
        key_last4: "AAAA".to_owned(),
        key_ciphertext: Vec::new(),
        product_id: ProductId::from_stored("p".to_owned()),
        product_code: "app".to_owned(),
        product_name: "App".to_owned(),
        license_type_id: LicenseTypeId::from_stored("t".to_owned()),
        license_type_name: "Standard".to_owned(),
        organization_id: None,
        assigned_email: None,
        status: crate::domain::license::LicenseStatus::Active,
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
        expiry_from: crate::domain::license::ExpiryFrom::Issue,
        offline_checkin_days: 0,
        own_entitlements: 0,
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
        Fill {
            row: row(id),
            type_entitlements: vec!["pro".to_owned()],
            own_entitlements: None,
            machines: LiveMachines::All(Vec::new()),
        },
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
    cache.apply_notice("l1");
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
    cache.apply_notice("l1");
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
        cache.apply_notice("l9");
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
    let (back, want) = (a.parts(), row("l1"));
    assert_eq!(want.id, back.id);
    assert_eq!(back.key_last4, want.key_last4);
    assert_eq!(back.product_code, want.product_code);
    assert_eq!(back.license_type_name, want.license_type_name);
    assert_eq!(back.organization_id, want.organization_id.map(String::from));
    assert_eq!(back.status, want.status);
    assert_eq!(back.expires_at, want.expires_at);
    assert_eq!(back.expiry_from, want.expiry_from);
    assert_eq!(back.grace_days, want.grace_days);
    assert_eq!(back.version, want.version);
    assert_eq!(back.entitlements, ["pro".to_owned()]);
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
}

#[test]
fn a_first_validation_is_noted_in_place_once() {
    let cache = cache(10);
    fill(&cache, "d1", "l1");
    assert_eq!(get(&cache, "d1").unwrap().parts().first_validated_at, None);
    cache.note_first_validated("l1", 100);
    cache.note_first_validated("l1", 200);
    cache.note_first_validated("unknown", 300);
    assert_eq!(
        get(&cache, "d1").unwrap().parts().first_validated_at,
        Some(100)
    );
}

#[test]
fn a_license_filled_under_a_new_digest_replaces_its_old_entry() {
    let cache = cache(10);
    fill(&cache, "old", "l1");
    fill(&cache, "new", "l1");
    assert!(get(&cache, "old").is_none());
    cache.apply_notice("l1");
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

fn machine(license: &str, fingerprint: &str) -> MachineRow {
    MachineRow {
        id: crate::domain::id::MachineId::from_stored(format!("m-{fingerprint}")),
        license_id: LicenseId::from_stored(license.to_owned()),
        fingerprint: fingerprint.to_owned(),
        name: Some("laptop".to_owned()),
        platform: None,
        ip: None,
        activated_at: 10,
        last_heartbeat_at: 20,
        deactivated_at: None,
        deactivated_by: None,
    }
}

/// Fills `name` with license `id` that has more machines than an entry
/// holds.
fn fill_large(cache: &LicenseCache, name: &str, id: &str) -> Arc<CachedLicense> {
    cache.insert(
        cache.ticket(),
        &digest(name),
        Fill {
            row: row(id),
            type_entitlements: Vec::new(),
            own_entitlements: None,
            machines: LiveMachines::TooMany,
        },
    )
}

/// Looks a machine up as validation does: the cache, else the "database"
/// (`stored`), then keeps what it read.
fn look_up(cache: &LicenseCache, entry: &CachedLicense, fp: &str, stored: bool) -> bool {
    match cache.machine(entry, fp) {
        MachineLookup::Known(found) => found.is_some(),
        MachineLookup::Unknown(ticket) => {
            let found = stored.then(|| machine(&entry.id(), fp));
            cache.insert_machine(ticket, entry, fp, found.as_ref());
            stored
        }
    }
}

fn known(cache: &LicenseCache, entry: &CachedLicense, fp: &str) -> Option<Option<MachineRow>> {
    match cache.machine(entry, fp) {
        MachineLookup::Known(found) => Some(found),
        MachineLookup::Unknown(_) => None,
    }
}

#[test]
fn a_large_licenses_machines_are_kept_one_lookup_at_a_time() {
    let cache = cache(10);
    let entry = fill_large(&cache, "d1", "l1");
    assert!(known(&cache, &entry, "fp-1").is_none());
    assert!(look_up(&cache, &entry, "fp-1", true));
    assert!(!look_up(&cache, &entry, "fp-2", false));
    let found = known(&cache, &entry, "fp-1").unwrap().unwrap();
    assert_eq!(
        (
            found.id.as_str(),
            found.license_id.as_str(),
            found.name.as_deref()
        ),
        ("m-fp-1", "l1", Some("laptop"))
    );
    assert_eq!(found.last_heartbeat_at, 20);
    // Known absent: no second read.
    assert!(known(&cache, &entry, "fp-2").unwrap().is_none());

    // The license's row changes (a seat taken): its entry goes, what the
    // lookups found stays, and serves the entry filled next.
    cache.apply_notice("l1");
    assert!(get(&cache, "d1").is_none());
    let entry = fill_large(&cache, "d1", "l1");
    assert!(known(&cache, &entry, "fp-1").unwrap().is_some());

    // A machine changes: only its slot goes, the entry stays.
    cache.apply_notice("l1 fp-2");
    assert!(known(&cache, &entry, "fp-2").is_none());
    assert!(known(&cache, &entry, "fp-1").is_some());
    assert!(get(&cache, "d1").is_some());
    assert_eq!(cache.looked_up_machines(), 1);
    cache.apply_notice("*");
    assert_eq!(cache.looked_up_machines(), 0);
}

#[test]
fn a_lookup_that_raced_a_change_is_not_kept() {
    let cache = cache(10);
    let entry = fill_large(&cache, "d1", "l1");
    let MachineLookup::Unknown(ticket) = cache.machine(&entry, "fp-1") else {
        panic!("nothing was looked up yet");
    };
    // The machine is deactivated between the read and the insert.
    cache.apply_notice("l1 fp-1");
    cache.insert_machine(ticket, &entry, "fp-1", Some(&machine("l1", "fp-1")));
    assert!(known(&cache, &entry, "fp-1").is_none());
}

#[test]
fn a_machine_change_drops_an_entry_that_holds_the_machines() {
    let cache = cache(10);
    let held = cache.insert(
        cache.ticket(),
        &digest("d1"),
        Fill {
            row: row("l1"),
            type_entitlements: Vec::new(),
            own_entitlements: None,
            machines: LiveMachines::All(vec![machine("l1", "fp-1")]),
        },
    );
    assert!(known(&cache, &held, "fp-1").unwrap().is_some());
    assert!(known(&cache, &held, "fp-9").unwrap().is_none());
    // What a held entry knows is never kept apart.
    cache.insert_machine(cache.ticket(), &held, "fp-9", None);
    assert_eq!(cache.looked_up_machines(), 0);
    cache.apply_notice("l1 fp-1");
    assert!(get(&cache, "d1").is_none());
}

#[test]
fn looked_up_machines_stay_within_the_capacity() {
    let cache = cache(5);
    let entry = fill_large(&cache, "d1", "l1");
    for i in 0..50 {
        look_up(&cache, &entry, &format!("fp-{i}"), i % 2 == 0);
        assert!(cache.looked_up_machines() <= 5);
    }
    assert!(known(&cache, &entry, "fp-49").is_some());
}

#[test]
fn a_license_with_entitlements_of_its_own_shows_them_and_its_type_keeps_its_own() {
    let cache = cache(10);
    fill(&cache, "d1", "l1");
    let own = cache.insert(
        cache.ticket(),
        &digest("d2"),
        Fill {
            row: row("l2"),
            type_entitlements: vec!["pro".to_owned()],
            own_entitlements: Some(vec!["beta".to_owned()]),
            machines: LiveMachines::All(Vec::new()),
        },
    );
    assert_eq!(own.entitlements(), ["beta".to_owned()]);
    assert_eq!(own.parts().entitlements, ["beta".to_owned()]);
    assert_eq!(
        get(&cache, "d1").unwrap().entitlements(),
        ["pro".to_owned()]
    );
    assert!(Arc::ptr_eq(&own.kind, &get(&cache, "d1").unwrap().kind));
}
