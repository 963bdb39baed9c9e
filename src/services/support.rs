//! What the support console reads: one search box over every identifier a
//! customer might quote, a customer's whole picture, and a license's.

use std::collections::HashMap;

use crate::domain::audit::ActorKind;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::{LicenseId, OrganizationId};
use crate::domain::license::{self, Decision, Lookup, MachineFacts, ValidationRequest};
use crate::domain::license_key::LicenseKey;
use crate::domain::time::Timestamp;
use crate::services::licensing::{self, LicenseView, LicensingError};
use crate::services::onboarding::Step;
use crate::store::Db;
use crate::store::events;

pub use crate::store::events::EventRow;
use crate::store::license_edits;
use crate::store::licenses::{self, LicenseFilter};
use crate::store::machines::{self, MachineRow};
use crate::store::organizations::{self, OrganizationRow};
use crate::store::outbox::{self, OutboxEntry, Shown};
use crate::store::users::{self, MemberDetail};

/// Results per kind of match.
const PER_KIND: i64 = 20;

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// `customer` or `license`.
    pub kind: &'static str,
    pub title: String,
    /// Why it matched, in words.
    pub detail: String,
    pub link: String,
    /// Found by its full key, which the page must then not echo.
    pub by_full_key: bool,
}

/// Finds customers and licenses by email, organization name, license id,
/// full key, the last 4 characters of a key, or a machine's fingerprint or
/// name. A full key is looked up by its digest, never stored or shown.
pub async fn search(db: &Db, query: &str) -> Result<Vec<Hit>, LicensingError> {
    let q = query.trim();
    let mut hits: Vec<Hit> = Vec::new();
    if q.is_empty() || q.chars().count() > 200 {
        return Ok(hits);
    }
    let pool = db.pool();
    if let Ok(key) = LicenseKey::named(q)
        && let Some(row) = licenses::find_by_digest(pool, &key.digest()).await?
    {
        let view = licensing::get_license(db, &row.id).await?;
        hits.push(Hit {
            by_full_key: true,
            ..license_hit(&view, "the full license key")
        });
    }
    if let Ok(id) = LicenseId::parse(q) {
        if let Ok(view) = licensing::get_license(db, &id).await {
            hits.push(license_hit(&view, "the license id"));
        }
        if let Some(org) = organizations::find_by_id(pool, q).await? {
            hits.push(customer_hit(&org, "the organization id".to_owned()));
        }
    }
    let last4 = q.to_ascii_uppercase();
    if last4.len() == 4 && last4.chars().all(|c| c.is_ascii_alphanumeric()) {
        for row in licenses::find_by_last4(pool, &last4, PER_KIND).await? {
            let view = licensing::get_license(db, &row.id).await?;
            hits.push(license_hit(&view, &format!("the key ends in {last4}")));
        }
    }
    for user in users::search_by_email(pool, db.backend(), q, PER_KIND).await? {
        if let Some(org_id) = &user.organization_id
            && let Some(org) = organizations::find_by_id(pool, org_id).await?
        {
            hits.push(customer_hit(&org, format!("member {}", user.email)));
        }
    }
    if q.contains('@') {
        let filter = LicenseFilter {
            email: Some(q.to_lowercase()),
            ..LicenseFilter::default()
        };
        for view in licensing::list_licenses(db, &filter, PER_KIND).await? {
            if view.organization_id.is_none() {
                hits.push(license_hit(
                    &view,
                    "assigned to this email, not claimed yet",
                ));
            }
        }
    }
    for org in organizations::search_by_name(pool, db.backend(), q, PER_KIND).await? {
        hits.push(customer_hit(&org, "the organization name".to_owned()));
    }
    if Fingerprint::parse(q).is_ok() || q.chars().count() >= 3 {
        for machine in machines::search(pool, db.backend(), q, PER_KIND).await? {
            let view = licensing::get_license(db, &machine.license_id).await?;
            let what = if machine.fingerprint == q {
                format!("machine fingerprint {}", machine.fingerprint)
            } else {
                format!("machine \"{}\"", machine.name.as_deref().unwrap_or(""))
            };
            hits.push(license_hit(&view, &what));
        }
    }
    // Metadata: `value`, or `key=value` for one key.
    let (key, value) = match q.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => (Some(k.trim()), v.trim()),
        _ => (None, q),
    };
    for id in license_edits::licenses_with_metadata(pool, key, value, PER_KIND).await? {
        let view = licensing::get_license(db, &LicenseId::from_stored(id)).await?;
        hits.push(license_hit(&view, &format!("metadata {value:?}")));
    }
    let mut seen = std::collections::HashSet::new();
    hits.retain(|h| seen.insert((h.link.clone(), h.detail.clone())));
    Ok(hits)
}

fn license_hit(view: &LicenseView, why: &str) -> Hit {
    Hit {
        kind: "license",
        title: format!(
            "{} {} ({}) ····{}",
            view.product_name,
            view.license_type_name,
            view.status.as_str(),
            view.key_last4
        ),
        detail: format!("Matched {why}."),
        link: format!("/admin/licenses/{}", view.id),
        by_full_key: false,
    }
}

fn customer_hit(org: &OrganizationRow, why: String) -> Hit {
    Hit {
        kind: "customer",
        title: org.name.clone(),
        detail: format!("Matched {why}."),
        link: format!("/admin/customers/{}", org.id),
        by_full_key: false,
    }
}

/// Everything about one customer organization.
#[derive(Debug, Clone)]
pub struct Customer {
    pub organization: OrganizationRow,
    pub members: Vec<MemberDetail>,
    pub licenses: Vec<(LicenseView, Vec<MachineRow>)>,
    /// The furthest onboarding step any member reached.
    pub step: Step,
    pub emails: Vec<OutboxEntry>,
    pub timeline: Vec<EventRow>,
}

pub async fn customer(
    db: &Db,
    organization_id: &OrganizationId,
) -> Result<Customer, LicensingError> {
    let pool = db.pool();
    let organization = organizations::find_by_id(pool, organization_id)
        .await?
        .ok_or(LicensingError::NotFound("customer"))?;
    let members = users::member_details(pool, organization_id).await?;
    let filter = LicenseFilter {
        organization_id: Some(organization_id.to_string()),
        ..LicenseFilter::default()
    };
    let mut with_machines = Vec::new();
    for view in licensing::list_licenses(db, &filter, 200).await? {
        let machines = machines::list_all(pool, &view.id, 50).await?;
        with_machines.push((view, machines));
    }
    let step = if members.iter().all(|m| m.email_verified_at.is_none()) {
        Step::VerifyEmail
    } else if with_machines.is_empty() {
        Step::GetLicense
    } else if !licenses::organization_has_activated(pool, organization_id).await? {
        Step::Activate
    } else {
        Step::Done
    };
    Ok(Customer {
        organization,
        members,
        licenses: with_machines,
        step,
        emails: outbox::list(pool, Shown::All, Some(organization_id), None, 50).await?,
        timeline: events::timeline(pool, Some(organization_id), None, 100).await?,
    })
}

/// Everything about one license.
#[derive(Debug, Clone)]
pub struct License {
    pub license: LicenseView,
    pub organization: Option<OrganizationRow>,
    pub machines: Vec<MachineRow>,
    pub timeline: Vec<EventRow>,
}

pub async fn license(db: &Db, license_id: &LicenseId) -> Result<License, LicensingError> {
    let pool = db.pool();
    let license = licensing::get_license(db, license_id).await?;
    let organization = match license.organization_id.as_deref() {
        Some(id) => organizations::find_by_id(pool, id).await?,
        None => None,
    };
    Ok(License {
        machines: machines::list_all(pool, &license.id, 100).await?,
        timeline: events::timeline(pool, None, Some(&license.id), 100).await?,
        organization,
        license,
    })
}

/// "Explain a validation": what the API would answer for this license, this
/// fingerprint, product and entitlements right now, with every check of
/// the fixed order and the value it saw. Reads only.
pub async fn explain(
    db: &Db,
    license: &LicenseView,
    request: &ValidationRequest<'_>,
    now: Timestamp,
) -> Result<Decision, LicensingError> {
    let machine = match request.fingerprint {
        Some(fp) => machines::find_active(db.pool(), &license.id, fp).await?,
        None => None,
    };
    let machine_facts = machine.map(|m| MachineFacts {
        last_heartbeat_at: Timestamp::from_unix(m.last_heartbeat_at),
    });
    let facts = license.facts();
    Ok(license::validate(
        Lookup::Found(&facts),
        machine_facts.as_ref(),
        request,
        now,
    ))
}

/// Every license for the CSV export.
pub async fn license_export(db: &Db) -> Result<Vec<licenses::ExportRow>, LicensingError> {
    Ok(licenses::export(db.pool()).await?)
}

/// The emails of the people and the names of the API tokens that acted in
/// these events, by actor id, each looked up once.
pub async fn actor_names(db: &Db, events: &[EventRow]) -> anyhow::Result<HashMap<String, String>> {
    let mut names = HashMap::new();
    let tokens = if events.iter().any(|e| e.actor_kind == ActorKind::ApiToken) {
        crate::store::api_tokens::list(db.pool()).await?
    } else {
        Vec::new()
    };
    for e in events {
        let Some(id) = &e.actor_id else { continue };
        if names.contains_key(id) {
            continue;
        }
        let name = match e.actor_kind {
            ActorKind::Customer | ActorKind::Staff => {
                users::find_by_id(db.pool(), id).await?.map(|u| u.email)
            }
            ActorKind::ApiToken => tokens
                .iter()
                .find(|t| &t.id == id)
                .map(|t| format!("API token “{}”", t.name)),
            _ => None,
        };
        if let Some(name) = name {
            names.insert(id.clone(), name);
        }
    }
    Ok(names)
}
