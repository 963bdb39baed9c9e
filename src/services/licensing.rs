//! The license engine's use cases: issue, validate, activate, deactivate,
//! heartbeat, suspend, reinstate, renew, revoke. Each writing use case runs
//! in one write transaction and records its audit event in it; none waits
//! on anything but the database inside it.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tracing::Instrument;

use crate::clock::ManualClock;
use crate::domain::email::EmailAddress;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::new_id;
use crate::domain::license::{
    self, Decision, ExpiryFrom, LicenseFacts, LicenseStatus, Lookup, MachineFacts, SECS_PER_DAY,
    ValidationCode, ValidationRequest,
};
use crate::domain::license_key::LicenseKey;
use crate::domain::time::Timestamp;
use crate::mail::templates::{
    LicenseAssigned, LicenseRenewed, LicenseStandingChanged, MachineActivated, StandingChange,
};
use crate::secret::DataCipher;
use crate::services::context::{Brand, Ctx};
use crate::services::notify::{self, About, Audience, enqueue_email};
use crate::services::webhooks;
use crate::store::batch::{BatchError, WriteBatch};
use crate::store::cache::CachedLicense;
use crate::store::events::{self, NewEvent};
use crate::store::licenses::{self, LicenseRow, NewLicense};
use crate::store::machines::{self, DeactivatedBy, MachineRow};
use crate::store::users;
use crate::store::webhooks::{self as store_webhooks, EndpointRow};
use crate::store::{Db, Tx, license_types, organizations};

#[derive(Debug, thiserror::Error)]
pub enum LicensingError {
    /// The license, machine or state does not allow it; the code says why,
    /// and the license is named when the key was found.
    #[error("{}", .code.detail())]
    Refused {
        code: ValidationCode,
        license_id: Option<String>,
    },
    #[error("this license type does not let customers deactivate machines")]
    DeactivationNotAllowed,
    #[error("the deactivation limit of this license ({limit} per {period_days} days) is reached")]
    DeactivationLimit { limit: i64, period_days: i64 },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl LicensingError {
    /// The stable code of a refusal, as the API answers it and the metrics
    /// and statistics count it.
    pub fn outcome_code(&self) -> &'static str {
        match self {
            LicensingError::Refused { code, .. } => code.as_str(),
            LicensingError::DeactivationNotAllowed => "DEACTIVATION_NOT_ALLOWED",
            LicensingError::DeactivationLimit { .. } => "DEACTIVATION_LIMIT_REACHED",
            LicensingError::NotFound(_) => "NOT_FOUND",
            LicensingError::Invalid(_) => "INVALID",
            LicensingError::Conflict(_) => "CONFLICT",
            LicensingError::Unexpected(_) => "ERROR",
        }
    }

    /// The license a refusal is about, when the key was found.
    pub fn license_id(&self) -> Option<&str> {
        match self {
            LicensingError::Refused { license_id, .. } => license_id.as_deref(),
            _ => None,
        }
    }

    fn refused(code: ValidationCode) -> Self {
        LicensingError::Refused {
            code,
            license_id: None,
        }
    }

    fn refused_for(code: ValidationCode, license: &LicenseView) -> Self {
        LicensingError::Refused {
            code,
            license_id: Some(license.id.clone()),
        }
    }
}

impl From<sqlx::Error> for LicensingError {
    fn from(e: sqlx::Error) -> Self {
        LicensingError::Unexpected(e.into())
    }
}

/// A license as every caller sees it (never the key, only its last four).
#[derive(Debug, Clone)]
pub struct LicenseView {
    pub id: String,
    pub key_last4: String,
    pub product_id: String,
    pub product_code: String,
    pub product_name: String,
    pub license_type_id: String,
    pub license_type_name: String,
    pub organization_id: Option<String>,
    pub assigned_email: Option<String>,
    pub status: LicenseStatus,
    pub is_trial: bool,
    pub max_machines: i64,
    pub machines_used: i64,
    pub issued_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub grace_days: i64,
    pub floating: bool,
    pub heartbeat_window_secs: Option<i64>,
    pub offline_checkin_days: i64,
    pub duration_days: Option<i64>,
    pub expiry_from: ExpiryFrom,
    pub customer_may_deactivate: bool,
    pub deactivation_limit: Option<i64>,
    pub deactivation_period_days: Option<i64>,
    pub entitlements: Vec<String>,
    pub updated_at: Timestamp,
    /// When a validation first answered VALID (written by the usage batch).
    pub first_validated_at: Option<Timestamp>,
    /// Raised by every change to the license's row.
    pub version: i64,
}

impl LicenseView {
    fn from_row(row: LicenseRow, entitlements: Vec<String>) -> anyhow::Result<Self> {
        let status: LicenseStatus = row
            .status
            .parse()
            .with_context(|| format!("license {} has a bad status", row.id))?;
        Ok(Self {
            id: row.id,
            key_last4: row.key_last4,
            product_id: row.product_id,
            product_code: row.product_code,
            product_name: row.product_name,
            license_type_id: row.license_type_id,
            license_type_name: row.license_type_name,
            organization_id: row.organization_id,
            assigned_email: row.assigned_email,
            status,
            is_trial: row.is_trial == 1,
            max_machines: row.max_machines,
            machines_used: row.machines_used,
            issued_at: Timestamp::from_unix(row.issued_at),
            expires_at: row.expires_at.map(Timestamp::from_unix),
            grace_days: row.grace_days,
            floating: row.floating == 1,
            heartbeat_window_secs: row.heartbeat_window_secs,
            offline_checkin_days: row.offline_checkin_days,
            duration_days: row.duration_days,
            expiry_from: ExpiryFrom::parse(&row.expiry_from).unwrap_or(ExpiryFrom::Issue),
            customer_may_deactivate: row.customer_may_deactivate == 1,
            deactivation_limit: row.deactivation_limit,
            deactivation_period_days: row.deactivation_period_days,
            entitlements,
            updated_at: Timestamp::from_unix(row.updated_at),
            first_validated_at: row.first_validated_at.map(Timestamp::from_unix),
            version: row.version,
        })
    }

    pub fn facts(&self) -> LicenseFacts {
        LicenseFacts {
            product_code: self.product_code.clone(),
            status: self.status,
            expires_at: self.expires_at,
            grace_days: self.grace_days,
            floating: self.floating,
            heartbeat_window_secs: self.heartbeat_window_secs,
            entitlements: self.entitlements.clone(),
        }
    }

    /// Expired past grace at `now`, or in grace.
    pub fn expiry_state(&self, now: Timestamp) -> (bool, bool) {
        license::expiry_state(self.expires_at, self.grace_days, now)
    }

    fn snapshot(&self) -> serde_json::Value {
        json!({
            "status": self.status.as_str(),
            "expires_at": self.expires_at.map(Timestamp::unix),
            "max_machines": self.max_machines,
            "machines_used": self.machines_used,
        })
    }
}

/// A machine as callers see it.
#[derive(Debug, Clone)]
pub struct MachineView {
    pub id: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub activated_at: Timestamp,
    pub last_heartbeat_at: Timestamp,
    pub deactivated_at: Option<Timestamp>,
}

impl From<MachineRow> for MachineView {
    fn from(row: MachineRow) -> Self {
        Self {
            id: row.id,
            fingerprint: row.fingerprint,
            name: row.name,
            platform: row.platform,
            activated_at: Timestamp::from_unix(row.activated_at),
            last_heartbeat_at: Timestamp::from_unix(row.last_heartbeat_at),
            deactivated_at: row.deactivated_at.map(Timestamp::from_unix),
        }
    }
}

async fn load_view<'e, E>(exec: E, row: LicenseRow) -> Result<LicenseView, LicensingError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let entitlements = licenses::entitlements_of_type(exec, &row.license_type_id).await?;
    Ok(LicenseView::from_row(row, entitlements)?)
}

/// The license with this id as it stands inside the transaction.
pub(crate) async fn view_in_tx(tx: &mut Tx, id: &str) -> Result<LicenseView, LicensingError> {
    let row = licenses::find_by_id(&mut **tx, id)
        .await?
        .ok_or(LicensingError::NotFound("license"))?;
    load_view(&mut **tx, row).await
}

pub(crate) async fn record(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    kind: &str,
    license: &LicenseView,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let endpoints = store_webhooks::enabled(&mut **tx)
        .await
        .context("finding webhook endpoints")?;
    record_to(ctx, tx, &endpoints, kind, license, data).await
}

/// [`record`], the CRM's copy going to endpoints read before the
/// transaction.
async fn record_to(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    endpoints: &[EndpointRow],
    kind: &str,
    license: &LicenseView,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let event = event_about(ctx, kind, license, data);
    events::insert(tx, ctx.clock.now(), &event)
        .await
        .with_context(|| format!("recording {kind}"))?;
    publish_event(ctx, tx, endpoints, &event, license).await
}

/// The audit event of a change to a license.
fn event_about<'a>(
    ctx: &'a Ctx<'_>,
    kind: &'a str,
    license: &'a LicenseView,
    data: serde_json::Value,
) -> NewEvent<'a> {
    let mut event = NewEvent::new(kind, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.license_id = Some(&license.id);
    event.organization_id = license.organization_id.as_deref();
    event.data = data;
    if let (Some(reason), Some(map)) = (&ctx.reason, event.data.as_object_mut()) {
        map.entry("reason")
            .or_insert_with(|| serde_json::Value::String(reason.clone()));
    }
    event
}

/// The CRM hears of a recorded change in the same transaction.
async fn publish_event(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    endpoints: &[EndpointRow],
    event: &NewEvent<'_>,
    license: &LicenseView,
) -> anyhow::Result<()> {
    let webhook_type = match event.kind {
        "license.transferred" => "license.assigned",
        other => other,
    };
    if !webhooks::EVENT_TYPES.contains(&webhook_type) {
        return Ok(());
    }
    let mut details = event.data.clone();
    if let Some(map) = details.as_object_mut() {
        map.remove("before");
        map.remove("after");
    }
    webhooks::publish_to(
        tx,
        endpoints,
        webhook_type,
        (license.organization_id.as_deref(), Some(&license.id)),
        json!({ "license": webhooks::license_data(license), "details": details }),
        ctx.clock.now(),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- reading

pub async fn get_license(db: &Db, id: &str) -> Result<LicenseView, LicensingError> {
    let row = licenses::find_by_id(db.pool(), id)
        .await?
        .ok_or(LicensingError::NotFound("license"))?;
    load_view(db.pool(), row).await
}

pub async fn list_licenses(
    db: &Db,
    filter: &licenses::LicenseFilter,
    limit: i64,
) -> Result<Vec<LicenseView>, LicensingError> {
    let rows = licenses::list(db.pool(), filter, limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(load_view(db.pool(), row).await?);
    }
    Ok(out)
}

pub async fn active_machines(
    db: &Db,
    license_id: &str,
) -> Result<Vec<MachineView>, LicensingError> {
    Ok(machines::list_active(db.pool(), license_id)
        .await?
        .into_iter()
        .map(MachineView::from)
        .collect())
}

// ---------------------------------------------------------------- issuing

/// Who a new license is for.
#[derive(Debug, Clone)]
pub enum Recipient {
    Organization(String),
    /// Someone who will claim it by email.
    Email(EmailAddress),
}

#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub license_type_id: String,
    pub recipient: Option<Recipient>,
    /// Overrides the type's seat count.
    pub max_machines: Option<i64>,
    /// Overrides the type's duration.
    pub expires_at: Option<Timestamp>,
    pub is_trial: bool,
}

/// A new license and its key: the only time the full key is returned.
#[derive(Debug)]
pub struct Issued {
    pub license: LicenseView,
    pub key: LicenseKey,
}

/// A new license id and key, and the key sealed for storage: encrypted
/// under the server secret and bound to the id, so a ciphertext copied to
/// another row does not open.
pub(crate) fn new_sealed_key(
    cipher: &DataCipher,
) -> Result<(String, LicenseKey, Vec<u8>), LicensingError> {
    let key = LicenseKey::generate()?;
    let id = new_id();
    let sealed = cipher.seal(key.canonical().as_bytes(), id.as_bytes())?;
    Ok((id, key, sealed))
}

pub async fn issue_license(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    brand: &Brand,
    request: &IssueRequest,
) -> Result<Issued, LicensingError> {
    let now = ctx.clock.now();
    let lt = license_types::find_by_id(ctx.db.pool(), &request.license_type_id)
        .await?
        .ok_or(LicensingError::NotFound("license type"))?;
    if lt.retired_at.is_some() {
        return Err(LicensingError::Invalid(
            "this license type is retired; issue licenses of a current type".to_owned(),
        ));
    }
    if let Some(n) = request.max_machines
        && !(1..=100_000).contains(&n)
    {
        return Err(LicensingError::Invalid(
            "max_machines must be from 1 to 100000".to_owned(),
        ));
    }
    if let Some(at) = request.expires_at
        && at <= now
    {
        return Err(LicensingError::Invalid(
            "expires_at must be in the future".to_owned(),
        ));
    }
    let (organization_id, assigned_email) = match &request.recipient {
        None => (None, None),
        Some(Recipient::Organization(id)) => {
            organizations::find_by_id(ctx.db.pool(), id)
                .await?
                .ok_or(LicensingError::NotFound("organization"))?;
            (Some(id.clone()), None)
        }
        Some(Recipient::Email(email)) => (None, Some(email.as_str().to_owned())),
    };
    let expiry_from = ExpiryFrom::parse(&lt.expiry_from).unwrap_or(ExpiryFrom::Issue);
    let expires_at = request
        .expires_at
        .or(match (expiry_from, lt.duration_days) {
            (ExpiryFrom::Issue, Some(days)) => Some(now.plus_days(days)),
            _ => None,
        });

    let (id, key, sealed) = new_sealed_key(cipher)?;
    let mut tx = ctx.db.begin_write().await?;
    let inserted = licenses::insert(
        &mut tx,
        &NewLicense {
            id: &id,
            key_digest: &key.digest(),
            key_ciphertext: &sealed,
            key_last4: &key.last4(),
            product_id: &lt.product_id,
            license_type_id: &lt.id,
            organization_id: organization_id.as_deref(),
            assigned_email: assigned_email.as_deref(),
            is_trial: request.is_trial,
            max_machines: request.max_machines.unwrap_or(lt.max_machines),
            issued_at: now,
            expires_at,
        },
    )
    .await;
    if let Err(e) = inserted {
        if e.as_database_error()
            .is_some_and(|d| d.is_unique_violation())
        {
            return Err(LicensingError::Conflict(
                "this organization already has a trial of this product".to_owned(),
            ));
        }
        return Err(e.into());
    }
    let license = view_in_tx(&mut tx, &id).await?;
    record(
        ctx,
        &mut tx,
        "license.created",
        &license,
        json!({ "after": license.snapshot(), "license_type_id": license.license_type_id }),
    )
    .await?;
    // A license for someone who will claim it: tell them, with the link.
    if let Some(email) = &license.assigned_email {
        let mail = LicenseAssigned {
            vendor_name: brand.vendor_name.clone(),
            product_name: license.product_name.clone(),
            license_type_name: license.license_type_name.clone(),
            link: brand.link("/onboarding"),
        };
        let about = About {
            organization_id: None,
            license_id: Some(&license.id),
        };
        enqueue_email(&mut tx, brand, "license_assigned", email, &mail, about, now).await?;
    }
    // A license for an organization: welcome its people with the details.
    notify::welcome(&mut tx, brand, &license, now).await?;
    tx.commit().await.context("committing the license")?;
    tracing::info!(license_id = %license.id, "license issued");
    Ok(Issued { license, key })
}

/// Reveals the full key of a license (for its owner, after re-authentication).
pub async fn reveal_key(
    db: &Db,
    cipher: &DataCipher,
    license_id: &str,
) -> Result<LicenseKey, LicensingError> {
    let row = licenses::find_by_id(db.pool(), license_id)
        .await?
        .ok_or(LicensingError::NotFound("license"))?;
    let plain = cipher.open(&row.key_ciphertext, row.id.as_bytes())?;
    let text = std::str::from_utf8(&plain).context("stored key is not text")?;
    LicenseKey::parse(text)
        .map_err(|e| LicensingError::Unexpected(anyhow::anyhow!("stored key is damaged: {e}")))
}

/// Reveals the full key to a customer who gave their password again, and
/// records that it was shown.
pub async fn reveal_key_audited(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    license: &LicenseView,
    user_id: &str,
) -> Result<LicenseKey, LicensingError> {
    let key = reveal_key(ctx.db, cipher, &license.id).await?;
    let mut tx = ctx.db.begin_write().await?;
    let mut event = NewEvent::new("license.key_revealed", &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.license_id = Some(&license.id);
    event.organization_id = license.organization_id.as_deref();
    event.user_id = Some(user_id);
    events::insert(&mut tx, ctx.clock.now(), &event)
        .await
        .context("recording the reveal")?;
    tx.commit().await.context("committing the reveal")?;
    Ok(key)
}

// ---------------------------------------------------------------- validating

/// A validation request as the API receives it, already shaped.
#[derive(Debug, Clone, Default)]
pub struct ValidateInput {
    pub key: String,
    pub fingerprint: Option<Fingerprint>,
    pub product: Option<String>,
    pub entitlements: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ValidationOutcome {
    pub decision: Decision,
    pub license: Option<LicenseView>,
    pub machine: Option<MachineView>,
}

/// The validation decision for a request, read from the database.
pub async fn validate(
    db: &Db,
    now: Timestamp,
    input: &ValidateInput,
) -> Result<ValidationOutcome, LicensingError> {
    let request = ValidationRequest {
        fingerprint: input.fingerprint.as_ref().map(Fingerprint::as_str),
        product: input.product.as_deref(),
        entitlements: &input.entitlements,
    };
    let Ok(key) = LicenseKey::parse(&input.key) else {
        let decision = license::validate(Lookup::Malformed, None, &request, now);
        return Ok(ValidationOutcome {
            decision,
            license: None,
            machine: None,
        });
    };
    let Some(state) = license_state(db, &key).await? else {
        let decision = license::validate(Lookup::NotFound, None, &request, now);
        return Ok(ValidationOutcome {
            decision,
            license: None,
            machine: None,
        });
    };
    let view = LicenseView::from_row(state.row(), state.entitlements().to_vec())?;
    let machine = input
        .fingerprint
        .as_ref()
        .and_then(|fp| state.machine(fp.as_str()))
        .map(MachineView::from);
    let facts = view.facts();
    let machine_facts = machine.as_ref().map(|m| MachineFacts {
        last_heartbeat_at: m.last_heartbeat_at,
    });
    let decision = license::validate(Lookup::Found(&facts), machine_facts.as_ref(), &request, now);
    Ok(ValidationOutcome {
        decision,
        license: Some(view),
        machine,
    })
}

/// What validation knows of the license with this key digest: from the
/// license cache, or read (on one connection) and cached. Every write
/// transaction that changes a license drops its entry (`Tx::touch_license`).
async fn license_state(
    db: &Db,
    key: &LicenseKey,
) -> Result<Option<Arc<CachedLicense>>, LicensingError> {
    let cache = db.license_cache();
    let digest = key.digest_bytes();
    if let Some(state) = cache.get(&digest) {
        return Ok(Some(state));
    }
    let ticket = cache.ticket();
    let mut conn = db.pool().acquire().await?;
    let Some(row) = licenses::find_by_digest(&mut *conn, &key.digest()).await? else {
        return Ok(None);
    };
    let entitlements = licenses::entitlements_of_type(&mut *conn, &row.license_type_id).await?;
    let machines = machines::list_active(&mut *conn, &row.id).await?;
    drop(conn);
    Ok(Some(cache.insert(
        ticket,
        &digest,
        row,
        entitlements,
        machines,
    )))
}

// ---------------------------------------------------------------- machines

#[derive(Debug, Clone)]
pub struct ActivateInput {
    pub key: String,
    pub fingerprint: Fingerprint,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub ip: Option<String>,
    pub product: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Activation {
    pub license: LicenseView,
    pub machine: MachineView,
    /// False when the fingerprint was already active (no seat taken).
    pub created: bool,
    /// The customer's first activation ever: onboarding completed.
    pub first_for_customer: bool,
}

fn parse_key(input: &str) -> Result<LicenseKey, LicensingError> {
    LicenseKey::parse(input).map_err(|_| LicensingError::refused(ValidationCode::MalformedKey))
}

async fn license_in_tx(tx: &mut Tx, key: &LicenseKey) -> Result<LicenseView, LicensingError> {
    let row = licenses::find_by_digest(&mut **tx, &key.digest())
        .await?
        .ok_or(LicensingError::refused(ValidationCode::NotFound))?;
    load_view(&mut **tx, row).await
}

/// Frees the seats of floating machines whose heartbeat window passed.
async fn reap_dead_seats(
    tx: &mut Tx,
    license: &LicenseView,
    now: Timestamp,
) -> Result<i64, LicensingError> {
    let (true, Some(window)) = (license.floating, license.heartbeat_window_secs) else {
        return Ok(0);
    };
    let reaped = machines::reap_dead(tx, &license.id, now.plus_secs(-window), now).await?;
    if reaped > 0 {
        licenses::release_seats(tx, &license.id, reaped, now).await?;
    }
    Ok(reaped)
}

/// Activates a machine. Idempotent per fingerprint: an already active
/// fingerprint returns its machine and takes no second seat.
pub async fn activate(
    ctx: &Ctx<'_>,
    brand: &Brand,
    input: &ActivateInput,
) -> Result<Activation, LicensingError> {
    let key = parse_key(&input.key)?;
    match activate_once(ctx, brand, &key, input).await {
        // A concurrent activation of the same fingerprint won the unique
        // index; it holds the seat, so answer with its machine.
        Err(LicensingError::Conflict(_)) => {
            let row = licenses::find_by_digest(ctx.db.pool(), &key.digest())
                .await?
                .ok_or(LicensingError::refused(ValidationCode::NotFound))?;
            let license = load_view(ctx.db.pool(), row).await?;
            let machine =
                machines::find_active(ctx.db.pool(), &license.id, input.fingerprint.as_str())
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the concurrent activation disappeared"))?;
            Ok(Activation {
                license,
                machine: machine.into(),
                created: false,
                first_for_customer: false,
            })
        }
        other => other,
    }
}

/// Why this license cannot take this activation, if it cannot.
fn activation_refusal(
    license: &LicenseView,
    input: &ActivateInput,
    now: Timestamp,
) -> Option<ValidationCode> {
    license::activation_refusal(
        Lookup::Found(&license.facts()),
        input.product.as_deref(),
        now,
    )
}

/// The expiry a first activation sets, for terms that start then.
fn expiry_on_activation(license: &LicenseView, now: Timestamp) -> Option<Timestamp> {
    match (license.expiry_from, license.duration_days) {
        (ExpiryFrom::FirstActivation, Some(days)) => Some(now.plus_days(days)),
        _ => None,
    }
}

/// What an activation found under the write lock.
enum Seat {
    /// A seat taken on the license as it was just before.
    Taken(LicenseView, licenses::SeatTaken),
    /// The fingerprint is active already: no seat taken.
    AlreadyActive(LicenseView, MachineRow),
}

/// The activation's checks and seat, all under the write lock: the path
/// when the license changed after it was read, or is floating. A refusal
/// here has written nothing for a license that is not floating.
async fn seat_under_lock(
    tx: &mut Tx,
    key: &LicenseKey,
    input: &ActivateInput,
    now: Timestamp,
) -> Result<Seat, LicensingError> {
    let license = license_in_tx(tx, key).await?;
    if let Some(code) = activation_refusal(&license, input, now) {
        return Err(LicensingError::refused_for(code, &license));
    }
    if let Some(existing) =
        machines::find_active(&mut **tx, &license.id, input.fingerprint.as_str()).await?
    {
        return Ok(Seat::AlreadyActive(license, existing));
    }
    reap_dead_seats(tx, &license, now).await?;
    let expires = expiry_on_activation(&license, now);
    match licenses::take_seat(tx, &license.id, now, expires).await? {
        Some(seat) => Ok(Seat::Taken(license, seat)),
        None => Err(LicensingError::refused_for(
            ValidationCode::TooManyMachines,
            &license,
        )),
    }
}

/// Who hears of an activation: read before the write lock, so that the
/// reads do not hold it. A webhook endpoint or member added while the
/// activation runs hears of the next change, not of this one.
struct Listeners {
    endpoints: Vec<EndpointRow>,
    /// The organization's verified members.
    recipients: Vec<users::Recipient>,
    /// A machine of this customer was activated before (once true, it
    /// stays true); when false, the write lock checks again.
    customer_activated: bool,
}

impl Listeners {
    async fn read(db: &Db, license: &LicenseView) -> Result<Self, LicensingError> {
        let mut conn = db.pool().acquire().await?;
        let endpoints = store_webhooks::enabled(&mut *conn).await?;
        let Some(org) = license.organization_id.as_deref() else {
            return Ok(Self {
                endpoints,
                recipients: Vec::new(),
                customer_activated: true,
            });
        };
        Ok(Self {
            endpoints,
            recipients: users::recipients(&mut *conn, org, false).await?,
            customer_activated: licenses::organization_has_activated(&mut *conn, org).await?,
        })
    }
}

/// Activates on the license as validation sees it (the cache, or one
/// read): refusals and an already active fingerprint are answered from
/// it and write nothing. Otherwise the seat is taken under the write lock,
/// on SQLite in a batch with the activations waiting for the lock at the
/// same moment (one commit for all of them, `store::batch`).
async fn activate_once(
    ctx: &Ctx<'_>,
    brand: &Brand,
    key: &LicenseKey,
    input: &ActivateInput,
) -> Result<Activation, LicensingError> {
    let now = ctx.clock.now();
    let state = license_state(ctx.db, key)
        .await?
        .ok_or(LicensingError::refused(ValidationCode::NotFound))?;
    let seen = LicenseView::from_row(state.row(), state.entitlements().to_vec())?;
    if let Some(code) = activation_refusal(&seen, input, now) {
        return Err(LicensingError::refused_for(code, &seen));
    }
    if let Some(existing) = state.machine(input.fingerprint.as_str()) {
        return Ok(Activation {
            license: seen,
            machine: existing.into(),
            created: false,
            first_for_customer: false,
        });
    }
    drop(state);
    let listeners = Listeners::read(ctx.db, &seen).await?;
    // A floating license frees its dead machines' seats first: writes that
    // a refusal would have to undo, which a batch cannot.
    let activation = match ctx.db.write_batch() {
        Some(writer) if !seen.floating => {
            let batch = Arc::clone(writer);
            let (db, brand, key, input) =
                (ctx.db.clone(), brand.clone(), key.clone(), input.clone());
            let (actor, request_id, reason) = (
                ctx.actor.clone(),
                ctx.request_id.clone(),
                ctx.reason.clone(),
            );
            let job = async move {
                let clock = ManualClock::new(now);
                let ctx = Ctx {
                    db: &db,
                    clock: &clock,
                    actor,
                    request_id,
                    reason,
                };
                let write = ActivationWrite {
                    ctx: &ctx,
                    brand: &brand,
                    key: &key,
                    input: &input,
                    seen: &seen,
                    listeners: &listeners,
                    now,
                };
                write.in_batch(&batch).await
            };
            writer
                .spawn(job.in_current_span())
                .await
                .context("the activation's writer failed")??
        }
        _ => {
            ActivationWrite {
                ctx,
                brand,
                key,
                input,
                seen: &seen,
                listeners: &listeners,
                now,
            }
            .alone()
            .await?
        }
    };
    log_activation(&activation);
    Ok(activation)
}

fn log_activation(activation: &Activation) {
    if activation.created {
        tracing::info!(license_id = %activation.license.id,
            machine_id = %activation.machine.id, "machine activated");
    }
}

/// An activation's writes, given what was read before the write lock.
struct ActivationWrite<'a> {
    ctx: &'a Ctx<'a>,
    brand: &'a Brand,
    key: &'a LicenseKey,
    input: &'a ActivateInput,
    /// The license as read before the lock (not refused, fingerprint not
    /// active).
    seen: &'a LicenseView,
    listeners: &'a Listeners,
    now: Timestamp,
}

impl ActivationWrite<'_> {
    /// In the open write batch (on its thread); alone if another
    /// activation of the batch failed and rolled it back.
    async fn in_batch(&self, batch: &Arc<WriteBatch>) -> Result<Activation, LicensingError> {
        let mut slot = batch.join(self.ctx.db).await?;
        match self.run(&mut slot).await {
            // A refusal here was decided on reads and wrote nothing. Both
            // are answered after the batch commits: they may rest on the
            // writes of the batch's other activations.
            result @ (Ok(_) | Err(LicensingError::Refused { .. })) => match slot.finish().await {
                Ok(()) => return result,
                Err(BatchError::Retry) => {}
                Err(BatchError::Database(e)) => {
                    return Err(anyhow::Error::new(e)
                        .context("committing the activation")
                        .into());
                }
            },
            // Half written: dropping the slot rolls the batch back.
            Err(e) => return Err(e),
        }
        self.alone().await
    }

    /// On a write transaction of its own.
    async fn alone(&self) -> Result<Activation, LicensingError> {
        let mut tx = self.ctx.db.begin_write().await?;
        let activation = self.run(&mut tx).await?;
        tx.commit().await.context("committing the activation")?;
        Ok(activation)
    }

    async fn run(&self, tx: &mut Tx) -> Result<Activation, LicensingError> {
        let (seen, now) = (self.seen, self.now);
        // First try: the seat, machine and event in one statement, taken
        // only while the license is still the version read, so every check
        // made on it still holds. A floating license frees its dead
        // machines' seats first, which the second path does.
        if !seen.floating {
            let first_for_customer = self.first_for_customer(tx, seen).await?;
            let expires = expiry_on_activation(seen, now);
            // What the seat UPDATE leaves of the license read.
            let after = after_seat(
                seen,
                licenses::SeatTaken {
                    machines_used: seen.machines_used + 1,
                    expires_at: seen.expires_at.or(expires).map(Timestamp::unix),
                    version: seen.version + 1,
                },
                now,
            );
            let machine = self.new_machine(&seen.id);
            let event = event_about(
                self.ctx,
                "license.activated",
                &after,
                activated_data(&machine, seen, &after),
            );
            let taken = licenses::take_seat_for_machine(
                tx,
                seen.version,
                expires,
                &machine.as_new(),
                &event,
                now,
            )
            .await
            .map_err(conflict_if_duplicate)?;
            if taken {
                return self
                    .announce(tx, &event, &after, machine, first_for_customer)
                    .await;
            }
        }
        // It changed (or may free seats): decide again under the lock.
        let (license, seat) = match seat_under_lock(tx, self.key, self.input, now).await? {
            Seat::Taken(license, seat) => (license, seat),
            Seat::AlreadyActive(license, machine) => {
                return Ok(Activation {
                    license,
                    machine: machine.into(),
                    created: false,
                    first_for_customer: false,
                });
            }
        };
        let first_for_customer = self.first_for_customer(tx, &license).await?;
        let machine = self.new_machine(&license.id);
        machines::insert(tx, &machine.as_new(), now)
            .await
            .map_err(conflict_if_duplicate)?;
        let after = after_seat(&license, seat, now);
        let event = event_about(
            self.ctx,
            "license.activated",
            &after,
            activated_data(&machine, &license, &after),
        );
        events::insert(tx, now, &event)
            .await
            .context("recording license.activated")?;
        self.announce(tx, &event, &after, machine, first_for_customer)
            .await
    }

    /// Before the machine row exists: is this the customer's first machine
    /// ever?
    async fn first_for_customer(
        &self,
        tx: &mut Tx,
        license: &LicenseView,
    ) -> Result<bool, LicensingError> {
        Ok(match license.organization_id.as_deref() {
            Some(org) if !self.listeners.customer_activated => {
                !licenses::organization_has_activated(&mut **tx, org).await?
            }
            _ => false,
        })
    }

    /// The machine row the activation writes.
    fn new_machine(&self, license_id: &str) -> MachineRow {
        let input = self.input;
        MachineRow {
            id: new_id(),
            license_id: license_id.to_owned(),
            fingerprint: input.fingerprint.as_str().to_owned(),
            name: input.name.clone(),
            platform: input.platform.clone(),
            ip: input.ip.clone(),
            activated_at: self.now.unix(),
            last_heartbeat_at: self.now.unix(),
            deactivated_at: None,
            deactivated_by: None,
        }
    }

    /// After the seat, machine and event: the CRM's webhooks and the
    /// members' security notice, in the same transaction.
    async fn announce(
        &self,
        tx: &mut Tx,
        event: &NewEvent<'_>,
        after: &LicenseView,
        machine: MachineRow,
        first_for_customer: bool,
    ) -> Result<Activation, LicensingError> {
        let (ctx, brand, now) = (self.ctx, self.brand, self.now);
        let endpoints = &self.listeners.endpoints;
        publish_event(ctx, tx, endpoints, event, after).await?;
        if first_for_customer {
            webhooks::publish_to(
                tx,
                endpoints,
                "onboarding.completed",
                (after.organization_id.as_deref(), Some(&after.id)),
                json!({ "organization_id": after.organization_id,
                        "license": webhooks::license_data(after),
                        "machine": { "id": machine.id, "fingerprint": machine.fingerprint } }),
                now,
            )
            .await?;
        }
        // A security notice: every member hears of a new machine on their
        // key.
        let link = brand.license_link(&after.id);
        notify::email_recipients(
            tx,
            brand,
            "machine_activated",
            after,
            &self.listeners.recipients,
            now,
            |_| MachineActivated {
                vendor_name: brand.vendor_name.clone(),
                license: notify::summary(after),
                machine_name: machine
                    .name
                    .clone()
                    .unwrap_or_else(|| "(unnamed)".to_owned()),
                platform: machine
                    .platform
                    .clone()
                    .unwrap_or_else(|| "(not given)".to_owned()),
                activated_at: now.to_utc_string(),
                seats_used: after.machines_used,
                link: link.clone(),
            },
        )
        .await?;
        Ok(Activation {
            license: after.clone(),
            machine: machine.into(),
            created: true,
            first_for_customer,
        })
    }
}

/// The license as a seat UPDATE left it (what reading it again would give).
fn after_seat(license: &LicenseView, seat: licenses::SeatTaken, now: Timestamp) -> LicenseView {
    LicenseView {
        machines_used: seat.machines_used,
        expires_at: seat.expires_at.map(Timestamp::from_unix),
        version: seat.version,
        updated_at: now,
        ..license.clone()
    }
}

/// What `license.activated` records.
fn activated_data(
    machine: &MachineRow,
    before: &LicenseView,
    after: &LicenseView,
) -> serde_json::Value {
    json!({
        "machine_id": machine.id,
        "fingerprint": machine.fingerprint,
        "before": before.snapshot(),
        "after": after.snapshot(),
    })
}

/// A second machine row for a live fingerprint: a concurrent activation of
/// the same machine won.
fn conflict_if_duplicate(e: sqlx::Error) -> LicensingError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        LicensingError::Conflict("fingerprint activated concurrently".to_owned())
    } else {
        e.into()
    }
}

#[derive(Debug, Clone)]
pub struct Deactivation {
    pub license: LicenseView,
    pub machine: MachineView,
}

/// Deactivates the machine with this fingerprint, by key (the application
/// or the customer): the type must allow it, within its limit.
pub async fn deactivate(
    ctx: &Ctx<'_>,
    key: &str,
    fingerprint: &Fingerprint,
    by: DeactivatedBy,
) -> Result<Deactivation, LicensingError> {
    let key = parse_key(key)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = license_in_tx(&mut tx, &key).await?;
    let machine = machines::find_active(&mut *tx, &license.id, fingerprint.as_str())
        .await?
        .ok_or_else(|| LicensingError::refused_for(ValidationCode::NotActivated, &license))?;
    check_self_deactivation(&mut tx, &license, by, now).await?;
    finish_deactivation(ctx, tx, license, machine, by, now).await
}

async fn finish_deactivation(
    ctx: &Ctx<'_>,
    mut tx: Tx,
    license: LicenseView,
    machine: MachineRow,
    by: DeactivatedBy,
    now: Timestamp,
) -> Result<Deactivation, LicensingError> {
    if !machines::deactivate(&mut tx, &machine.id, by, now).await? {
        return Err(LicensingError::refused_for(
            ValidationCode::NotActivated,
            &license,
        ));
    }
    licenses::release_seats(&mut tx, &license.id, 1, now).await?;
    let after = view_in_tx(&mut tx, &license.id).await?;
    record(
        ctx,
        &mut tx,
        "license.deactivated",
        &after,
        json!({
            "machine_id": machine.id,
            "fingerprint": machine.fingerprint,
            "by": by.as_str(),
            "before": license.snapshot(),
            "after": after.snapshot(),
        }),
    )
    .await?;
    tx.commit().await.context("committing the deactivation")?;
    let mut machine = MachineView::from(machine);
    machine.deactivated_at = Some(now);
    Ok(Deactivation {
        license: after,
        machine,
    })
}

/// Deactivates one machine of a license by id: by a customer in the portal
/// (the type's rules and limit apply) or by support staff (they do not).
pub async fn deactivate_machine(
    ctx: &Ctx<'_>,
    license_id: &str,
    machine_id: &str,
    by: DeactivatedBy,
) -> Result<Deactivation, LicensingError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = view_in_tx(&mut tx, license_id).await?;
    let machine = machines::list_active(&mut *tx, license_id)
        .await?
        .into_iter()
        .find(|m| m.id == machine_id)
        .ok_or(LicensingError::NotFound("machine"))?;
    check_self_deactivation(&mut tx, &license, by, now).await?;
    finish_deactivation(ctx, tx, license, machine, by, now).await
}

/// The type's rules for deactivations by customers and applications.
async fn check_self_deactivation(
    tx: &mut Tx,
    license: &LicenseView,
    by: DeactivatedBy,
    now: Timestamp,
) -> Result<(), LicensingError> {
    if !matches!(by, DeactivatedBy::Customer | DeactivatedBy::Application) {
        return Ok(());
    }
    if !license.customer_may_deactivate {
        return Err(LicensingError::DeactivationNotAllowed);
    }
    if let (Some(limit), Some(period_days)) =
        (license.deactivation_limit, license.deactivation_period_days)
    {
        let since = now.plus_secs(-period_days * SECS_PER_DAY);
        let used = machines::count_self_deactivations_since(&mut **tx, &license.id, since).await?;
        if used >= limit {
            return Err(LicensingError::DeactivationLimit { limit, period_days });
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub license: LicenseView,
    pub machine: MachineView,
    /// When the next heartbeat is due at the latest (floating licenses).
    pub next_deadline: Option<Timestamp>,
}

/// Records a heartbeat. A machine already past its window has lost its
/// seat and must activate again.
pub async fn heartbeat(
    ctx: &Ctx<'_>,
    key: &str,
    fingerprint: &Fingerprint,
) -> Result<Heartbeat, LicensingError> {
    let key = parse_key(key)?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = license_in_tx(&mut tx, &key).await?;
    let facts = license.facts();
    let machine = machines::find_active(&mut *tx, &license.id, fingerprint.as_str()).await?;
    let machine_facts = machine.as_ref().map(|m| MachineFacts {
        last_heartbeat_at: Timestamp::from_unix(m.last_heartbeat_at),
    });
    let request = ValidationRequest {
        fingerprint: Some(fingerprint.as_str()),
        product: None,
        entitlements: &[],
    };
    let decision = license::validate(Lookup::Found(&facts), machine_facts.as_ref(), &request, now);
    if decision.code == ValidationCode::HeartbeatDead {
        reap_dead_seats(&mut tx, &license, now).await?;
        tx.commit().await?;
        return Err(LicensingError::refused_for(
            ValidationCode::HeartbeatDead,
            &license,
        ));
    }
    if !decision.is_valid() {
        return Err(LicensingError::refused_for(decision.code, &license));
    }
    let Some(machine) = machine else {
        return Err(LicensingError::refused_for(
            ValidationCode::NotActivated,
            &license,
        ));
    };
    machines::touch_heartbeat(&mut tx, &machine.id, now).await?;
    tx.commit().await?;
    let mut machine = MachineView::from(machine);
    machine.last_heartbeat_at = now;
    let next_deadline = match (license.floating, license.heartbeat_window_secs) {
        (true, Some(window)) => Some(now.plus_secs(window)),
        _ => None,
    };
    Ok(Heartbeat {
        license,
        machine,
        next_deadline,
    })
}

/// Frees the seats of every floating machine whose heartbeat window passed
/// (the background reaper); returns how many seats were freed.
pub async fn reap_dead_machines(ctx: &Ctx<'_>, batch: i64) -> Result<i64, LicensingError> {
    let now = ctx.clock.now();
    let mut freed = 0;
    for license_id in machines::licenses_with_dead_seats(ctx.db.pool(), now, batch).await? {
        let mut tx = ctx.db.begin_write().await?;
        let Some(row) = licenses::find_by_id(&mut *tx, &license_id).await? else {
            continue;
        };
        let before = load_view(&mut *tx, row).await?;
        let reaped = reap_dead_seats(&mut tx, &before, now).await?;
        if reaped > 0 {
            let after = view_in_tx(&mut tx, &license_id).await?;
            record(
                ctx,
                &mut tx,
                "license.deactivated",
                &after,
                json!({
                    "by": DeactivatedBy::Heartbeat.as_str(),
                    "machines": reaped,
                    "before": before.snapshot(),
                    "after": after.snapshot(),
                }),
            )
            .await?;
        }
        tx.commit().await.context("committing the reaping")?;
        freed += reaped;
    }
    Ok(freed)
}

// ---------------------------------------------------------------- status

/// The actions support and provisioning take on a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseAction {
    Suspend,
    Reinstate,
    Revoke,
}

impl LicenseAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "suspend" => Some(LicenseAction::Suspend),
            "reinstate" => Some(LicenseAction::Reinstate),
            "revoke" => Some(LicenseAction::Revoke),
            _ => None,
        }
    }

    fn transition(self) -> (&'static [&'static str], LicenseStatus, &'static str) {
        match self {
            LicenseAction::Suspend => (&["active"], LicenseStatus::Suspended, "license.suspended"),
            LicenseAction::Reinstate => {
                (&["suspended"], LicenseStatus::Active, "license.reinstated")
            }
            LicenseAction::Revoke => (
                &["active", "suspended"],
                LicenseStatus::Revoked,
                "license.revoked",
            ),
        }
    }
}

/// Suspends, reinstates or revokes a license; its customers are told, with
/// the reason, which their license page shows too.
pub async fn change_status(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &str,
    action: LicenseAction,
    reason: Option<&str>,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let (from, to, event) = action.transition();
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    if !licenses::set_status(&mut tx, license_id, from, to.as_str(), reason, now).await? {
        return Err(LicensingError::Conflict(format!(
            "the license is {}; it cannot be made {}",
            before.status, to
        )));
    }
    let after = view_in_tx(&mut tx, license_id).await?;
    record(
        ctx,
        &mut tx,
        event,
        &after,
        json!({ "before": before.snapshot(), "after": after.snapshot(), "reason": reason }),
    )
    .await?;
    let change = match action {
        LicenseAction::Suspend => StandingChange::Suspended,
        LicenseAction::Reinstate => StandingChange::Reinstated,
        LicenseAction::Revoke => StandingChange::Revoked,
    };
    email_standing(&mut tx, brand, &after, change, reason, now).await?;
    tx.commit().await.context("committing the status change")?;
    Ok(after)
}

/// Tells the license's organization what support changed, and why.
async fn email_standing(
    tx: &mut Tx,
    brand: &Brand,
    license: &LicenseView,
    change: StandingChange,
    reason: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let link = brand.license_link(&license.id);
    notify::email_organization(
        tx,
        brand,
        "license_standing",
        license,
        Audience::Everyone,
        now,
        |_| LicenseStandingChanged {
            vendor_name: brand.vendor_name.clone(),
            license: notify::summary(license),
            change,
            reason: reason.unwrap_or_default().to_owned(),
            link: link.clone(),
        },
    )
    .await
}

/// How a renewal sets the new expiry.
#[derive(Debug, Clone, Copy)]
pub enum Renewal {
    /// Adds days to the later of the current expiry and now.
    ExtendDays(i64),
    /// Sets the expiry.
    Until(Timestamp),
}

pub async fn renew(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &str,
    renewal: Renewal,
    reason: Option<&str>,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    if before.status == LicenseStatus::Revoked {
        return Err(LicensingError::Conflict(
            "a revoked license cannot be renewed".to_owned(),
        ));
    }
    let new_expiry = match renewal {
        Renewal::ExtendDays(days) if (1..=36_500).contains(&days) => {
            let base = before.expires_at.map_or(now, |at| at.max(now));
            base.plus_days(days)
        }
        Renewal::ExtendDays(_) => {
            return Err(LicensingError::Invalid(
                "days must be from 1 to 36500".to_owned(),
            ));
        }
        Renewal::Until(at) if at > now => at,
        Renewal::Until(_) => {
            return Err(LicensingError::Invalid(
                "expires_at must be in the future".to_owned(),
            ));
        }
    };
    licenses::set_expiry(&mut tx, license_id, Some(new_expiry), now).await?;
    let after = view_in_tx(&mut tx, license_id).await?;
    record(
        ctx,
        &mut tx,
        "license.renewed",
        &after,
        json!({ "before": before.snapshot(), "after": after.snapshot(), "reason": reason }),
    )
    .await?;
    let link = brand.license_link(&after.id);
    notify::email_organization(
        &mut tx,
        brand,
        "license_renewed",
        &after,
        Audience::Everyone,
        now,
        |_| LicenseRenewed {
            vendor_name: brand.vendor_name.clone(),
            license: notify::summary(&after),
            previous_expiry: before
                .expires_at
                .map(Timestamp::to_date_string)
                .unwrap_or_default(),
            link: link.clone(),
        },
    )
    .await?;
    tx.commit().await.context("committing the renewal")?;
    Ok(after)
}

// ----------------------------------------------------------------- support

/// Moves a license to another type of the same product: its rules and seat
/// count follow the new type, its key, expiry and machines stay. Refused
/// when the active machines would not fit.
pub async fn change_type(
    ctx: &Ctx<'_>,
    license_id: &str,
    license_type_id: &str,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    let target = license_types::find_by_id(ctx.db.pool(), license_type_id)
        .await?
        .filter(|t| t.retired_at.is_none())
        .ok_or(LicensingError::NotFound("license type"))?;
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    if target.product_id != before.product_id {
        return Err(LicensingError::Invalid(
            "the new license type is for another product".to_owned(),
        ));
    }
    if target.id == before.license_type_id {
        return Err(LicensingError::Conflict(
            "the license already has this type".to_owned(),
        ));
    }
    if !licenses::set_type(&mut tx, license_id, &target.id, target.max_machines, now).await? {
        return Err(LicensingError::Conflict(format!(
            "{} machines are active and the new type allows {}; deactivate some first",
            before.machines_used, target.max_machines
        )));
    }
    let after = view_in_tx(&mut tx, license_id).await?;
    record(
        ctx,
        &mut tx,
        "license.type_changed",
        &after,
        json!({ "before": before.snapshot(), "after": after.snapshot(),
                "from_type": before.license_type_id, "to_type": after.license_type_id }),
    )
    .await?;
    tx.commit().await.context("committing the type change")?;
    Ok(after)
}

/// Gives a license to another organization (or to one for the first time,
/// for a license waiting to be claimed). Its machines stay until someone
/// deactivates them. A trial moves only to an organization without a trial
/// of the product.
pub async fn transfer(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &str,
    organization_id: &str,
) -> Result<LicenseView, LicensingError> {
    let now = ctx.clock.now();
    organizations::find_by_id(ctx.db.pool(), organization_id)
        .await?
        .ok_or(LicensingError::NotFound("organization"))?;
    let mut tx = ctx.db.begin_write().await?;
    let before = view_in_tx(&mut tx, license_id).await?;
    if before.organization_id.as_deref() == Some(organization_id) {
        return Err(LicensingError::Conflict(
            "the license already belongs to this organization".to_owned(),
        ));
    }
    match licenses::set_organization(&mut tx, license_id, organization_id, now).await {
        Ok(true) => {}
        Ok(false) => return Err(LicensingError::NotFound("license")),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            return Err(LicensingError::Conflict(
                "that organization already has a trial of this product".to_owned(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let after = view_in_tx(&mut tx, license_id).await?;
    record(
        ctx,
        &mut tx,
        "license.transferred",
        &after,
        json!({ "before": before.snapshot(), "after": after.snapshot(),
                "from_organization": before.organization_id, "to_organization": organization_id }),
    )
    .await?;
    email_standing(
        &mut tx,
        brand,
        &before,
        StandingChange::TransferredAway,
        ctx.reason.as_deref(),
        now,
    )
    .await?;
    notify::welcome(&mut tx, brand, &after, now).await?;
    tx.commit().await.context("committing the transfer")?;
    Ok(after)
}

/// Deactivates every active machine of a license (support's "reset"), so
/// the customer can activate afresh. Returns how many were freed.
pub async fn reset_machines(ctx: &Ctx<'_>, license_id: &str) -> Result<usize, LicensingError> {
    let active = machines::list_active(ctx.db.pool(), license_id).await?;
    let mut freed = 0;
    for machine in active {
        match deactivate_machine(ctx, license_id, &machine.id, DeactivatedBy::Staff).await {
            Ok(_) => freed += 1,
            // Deactivated meanwhile by someone else: nothing to do.
            Err(LicensingError::NotFound(_) | LicensingError::Refused { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(freed)
}

/// Sends the license's details (the welcome message) again to its
/// organization's members. Returns how many messages were queued.
pub async fn resend_license_email(
    ctx: &Ctx<'_>,
    brand: &Brand,
    license_id: &str,
) -> Result<usize, LicensingError> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let license = view_in_tx(&mut tx, license_id).await?;
    let sent = if license.organization_id.is_some() {
        notify::welcome(&mut tx, brand, &license, now).await?
    } else if let Some(email) = &license.assigned_email {
        let mail = LicenseAssigned {
            vendor_name: brand.vendor_name.clone(),
            product_name: license.product_name.clone(),
            license_type_name: license.license_type_name.clone(),
            link: brand.link("/onboarding"),
        };
        let about = About {
            organization_id: None,
            license_id: Some(&license.id),
        };
        enqueue_email(&mut tx, brand, "license_assigned", email, &mail, about, now).await?;
        1
    } else {
        0
    };
    record(
        ctx,
        &mut tx,
        "license.email_resent",
        &license,
        json!({ "messages": sent }),
    )
    .await?;
    tx.commit().await.context("committing the resend")?;
    Ok(sent)
}
