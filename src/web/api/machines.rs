//! Activation, deactivation and heartbeats, authenticated by the license
//! key. Answers are signed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::license_key::KeyDigest;
use crate::domain::license_key::LicenseKey;
use crate::domain::machine::DeactivatedBy;
use crate::services::context::{Brand, Ctx};
use crate::services::license_files::{self, FileForm};
use crate::services::licensing::{self, ActivateInput, LicensingError};
use crate::services::usage::UsageRecorder;
use crate::signing::{KeyRing, LiveKeyRing};
use crate::store::Db;
use crate::web::api::ProblemDoc;
use crate::web::api::idempotency::{self, Reply};
use crate::web::api::licenses::{Meta, checked_nonce};
use crate::web::api::views::{LicenseJson, MachineJson};
use crate::web::api::{invalid, licensing_problem, limit, parse_json, signed_body, signed_json};
use crate::web::error::WebError;
use crate::web::layout::Site;
use crate::web::ratelimit::{ApiLimits, annotate};
use crate::web::request::{client_ip, request_id};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    key: String,
    fingerprint: String,
    name: Option<String>,
    platform: Option<String>,
    product: Option<String>,
    /// Encrypt the returned machine file's payload with the license key
    /// (docs/license-file.md, "Encrypted files"). Default false.
    #[serde(default)]
    encrypt_file: bool,
    /// Echoed in `meta.nonce`, to tell a fresh answer from a replayed one.
    nonce: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineBody {
    key: String,
    fingerprint: String,
    /// Echoed in `meta.nonce`, to tell a fresh answer from a replayed one.
    nonce: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MachineAnswer {
    machine: MachineJson,
    license: LicenseJson,
    /// Activation only: the signed machine file (docs/license-file.md), for
    /// offline use until its `valid_until`.
    #[serde(skip_serializing_if = "Option::is_none")]
    machine_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_heartbeat_before: Option<i64>,
    meta: Meta,
}

pub fn parse_fingerprint(s: &str) -> Result<Fingerprint, WebError> {
    Fingerprint::parse(s).map_err(|e| invalid("fingerprint", e))
}

fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, WebError> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => Err(invalid(
            field,
            format!("must be at most {max} characters without control characters"),
        )),
        Some(v) => Ok(Some(v)),
    }
}

/// Activate a machine
///
/// 201 with the new machine; 200 when the fingerprint was already active
/// (it takes no second seat). Refusals: 409 `TOO_MANY_MACHINES`, 422 with
/// the validation code. Signed; accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/machines/activate", tag = "machines",
    request_body = ActivateBody,
    responses(
        (status = 201, body = MachineAnswer), (status = 200, body = MachineAnswer),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn activate(
    req: HttpRequest,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<LiveKeyRing>,
    limits: web::Data<ApiLimits>,
    site: web::Data<Site>,
    brand: web::Data<Brand>,
    usage: web::Data<UsageRecorder>,
    metrics: web::Data<crate::metrics::Metrics>,
) -> Result<HttpResponse, WebError> {
    let ring = ring.current();
    let parsed: ActivateBody = parse_json(&req, &body)?;
    // The key is parsed and hashed once; the plain key is kept only to
    // encrypt the machine file with it.
    let key = LicenseKey::named(&parsed.key).ok();
    let digest = key.as_ref().map(LicenseKey::key_digest);
    let allowance = limit(&limits, &req, digest.as_ref())?;
    let encrypt_file = parsed.encrypt_file;
    let nonce = checked_nonce(parsed.nonce)?;
    let input = ActivateInput {
        fingerprint: parse_fingerprint(&parsed.fingerprint)?,
        name: optional_text("name", parsed.name, 200)?,
        platform: optional_text("platform", parsed.platform, 100)?,
        product: optional_text("product", parsed.product, 64)?,
        ip: client_ip(&req).map(|ip| ip.to_string()),
        key: digest,
    };
    let rid = request_id(&req);
    // Retries are scoped to the key, so one key's retries never meet another's.
    let scope = digest.map_or_else(
        || "key:malformed".to_owned(),
        |d| format!("key:{}", d.hex()),
    );
    let ctx = Ctx::new(&db, clock.as_ref(), Actor::Application).with_request_id(Some(rid.clone()));
    let reply = idempotency::run(&req, &db, clock.as_ref(), &scope, &body, || async {
        let activation = licensing::activate(&ctx, &brand, &input).await;
        observe(&usage, &req, "activate", clock.now(), &activation, |a| {
            &a.license.id
        });
        let activation = activation.map_err(|e| licensing_problem(e, Some(&site)))?;
        if activation.first_for_customer {
            metrics.step("first_activation");
        }
        let status = if activation.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        // The activation accepted the key, so it parsed.
        let form = key
            .as_ref()
            .filter(|_| encrypt_file)
            .map_or(FileForm::Plain, FileForm::Encrypted);
        let machine_file = license_files::activation_file(
            &db,
            &ring,
            &activation,
            &input.fingerprint,
            clock.now(),
            form,
        )
        .await?;
        usage.record_file(&machine_file.signature, clock.now());
        Reply::json(
            status,
            &MachineAnswer {
                machine: (&activation.machine).into(),
                license: LicenseJson::new(&activation.license, clock.now()),
                machine_file: Some(machine_file.text),
                next_heartbeat_before: None,
                meta: Meta::new(&rid, clock.now(), nonce.clone()),
            },
        )
    })
    .await?;
    let mut res = signed_reply(reply, &rid, &ring, clock.as_ref());
    annotate(&mut res, allowance);
    Ok(res)
}

/// Counts a machine endpoint's answer (metrics and daily statistics) and
/// names its license on the request's log line.
fn observe<T>(
    usage: &UsageRecorder,
    req: &HttpRequest,
    endpoint: &'static str,
    now: crate::domain::time::Timestamp,
    result: &Result<T, LicensingError>,
    license_of: impl Fn(&T) -> &str,
) {
    let (code, license) = match result {
        Ok(done) => ("OK", Some(license_of(done))),
        Err(e) => (e.outcome_code(), e.license_id()),
    };
    if let Some(id) = license {
        crate::web::request::record_license(req, id);
    }
    let ip = client_ip(req).map(|ip| ip.to_string());
    usage.record_outcome(endpoint, code, ip.as_deref(), now);
}

fn signed_reply(reply: Reply, rid: &str, ring: &KeyRing, clock: &dyn Clock) -> HttpResponse {
    let mut res = signed_body(reply.status, reply.body, rid, ring, clock);
    if reply.replayed {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
    res
}

/// Deactivate a machine
///
/// Frees its seat, if the license type lets customers deactivate and its
/// deactivation limit is not reached. Signed.
#[utoipa::path(post, path = "/api/v1/machines/deactivate", tag = "machines",
    request_body = MachineBody,
    responses(
        (status = 200, body = MachineAnswer),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn deactivate(
    req: HttpRequest,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<LiveKeyRing>,
    limits: web::Data<ApiLimits>,
    site: web::Data<Site>,
    usage: web::Data<UsageRecorder>,
) -> Result<HttpResponse, WebError> {
    let ring = ring.current();
    let parsed: MachineBody = parse_json(&req, &body)?;
    let key = KeyDigest::of_input(&parsed.key);
    let allowance = limit(&limits, &req, key.as_ref())?;
    let fingerprint = parse_fingerprint(&parsed.fingerprint)?;
    let nonce = checked_nonce(parsed.nonce)?;
    let rid = request_id(&req);
    let ctx = Ctx::new(&db, clock.as_ref(), Actor::Application).with_request_id(Some(rid.clone()));
    let done =
        licensing::deactivate(&ctx, key.as_ref(), &fingerprint, DeactivatedBy::Application).await;
    observe(&usage, &req, "deactivate", clock.now(), &done, |d| {
        &d.license.id
    });
    let done = done.map_err(|e| licensing_problem(e, Some(&site)))?;
    let mut res = signed_json(
        StatusCode::OK,
        &MachineAnswer {
            machine: (&done.machine).into(),
            license: LicenseJson::new(&done.license, clock.now()),
            machine_file: None,
            next_heartbeat_before: None,
            meta: Meta::new(&rid, clock.now(), nonce),
        },
        &rid,
        &ring,
        clock.as_ref(),
    )?;
    annotate(&mut res, allowance);
    Ok(res)
}

/// Send a heartbeat
///
/// Keeps a floating seat; `next_heartbeat_before` says when the next one is
/// due. Signed.
#[utoipa::path(post, path = "/api/v1/machines/heartbeat", tag = "machines",
    request_body = MachineBody,
    responses(
        (status = 200, body = MachineAnswer),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn heartbeat(
    req: HttpRequest,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<LiveKeyRing>,
    limits: web::Data<ApiLimits>,
    site: web::Data<Site>,
    usage: web::Data<UsageRecorder>,
) -> Result<HttpResponse, WebError> {
    let ring = ring.current();
    let parsed: MachineBody = parse_json(&req, &body)?;
    let key = KeyDigest::of_input(&parsed.key);
    let allowance = limit(&limits, &req, key.as_ref())?;
    let fingerprint = parse_fingerprint(&parsed.fingerprint)?;
    let nonce = checked_nonce(parsed.nonce)?;
    let rid = request_id(&req);
    let ctx = Ctx::new(&db, clock.as_ref(), Actor::Application).with_request_id(Some(rid.clone()));
    let beat = licensing::heartbeat(&ctx, key.as_ref(), &fingerprint).await;
    observe(&usage, &req, "heartbeat", clock.now(), &beat, |b| {
        &b.license.id
    });
    let beat = beat.map_err(|e| licensing_problem(e, Some(&site)))?;
    let mut res = signed_json(
        StatusCode::OK,
        &MachineAnswer {
            machine: (&beat.machine).into(),
            license: LicenseJson::new(&beat.license, clock.now()),
            machine_file: None,
            next_heartbeat_before: beat.next_deadline.map(|t| t.unix()),
            meta: Meta::new(&rid, clock.now(), nonce),
        },
        &rid,
        &ring,
        clock.as_ref(),
    )?;
    annotate(&mut res, allowance);
    Ok(res)
}
