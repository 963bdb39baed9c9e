//! Validation (by key) and license provisioning (by API token).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::domain::email::EmailAddress;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::id::is_well_formed;
use crate::domain::id::{LicenseId, OrganizationId};
use crate::domain::license_key::KeyDigest;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::api_tokens::Scope;
use crate::services::context::{Brand, Ctx};
use crate::services::licensing::LicenseFilter;
use crate::services::licensing::{
    self, Holder, IssueRequest, LicenseAction, Renewal, ValidateInput,
};
use crate::services::usage::UsageRecorder;
use crate::signing::LiveKeyRing;
use crate::store::Db;
use crate::web::api::ProblemDoc;
use crate::web::api::auth::ApiClient;
use crate::web::api::idempotency::{self, Reply};
use crate::web::api::machines::parse_fingerprint;
use crate::web::api::views::{LicenseJson, MachineJson, NextAction, next_action};
use crate::web::api::{Cursor, Paged, invalid, limit, parse_json, signed_json};
use crate::web::error::WebError;
use crate::web::layout::Site;
use crate::web::ratelimit::{ApiLimits, annotate};
use crate::web::request::client_ip;
use crate::web::request::request_id;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateBody {
    /// The license key as the user typed it (case, spaces and dashes ignored).
    key: String,
    /// The machine's fingerprint, as the application computes it.
    fingerprint: Option<String>,
    /// A product code the key must belong to.
    product: Option<String>,
    /// Feature codes the license must include.
    entitlements: Option<Vec<String>>,
    /// Echoed in `meta.nonce`, to tell a fresh answer from a replayed one.
    nonce: Option<String>,
}

impl ValidateBody {
    /// Checks every field but the key (validation answers a malformed key
    /// with its result code): the validation input, and the nonce to echo.
    /// The request, its key already parsed and hashed into `key`.
    fn into_input(
        self,
        key: Option<KeyDigest>,
    ) -> Result<(ValidateInput, Option<String>), WebError> {
        let fingerprint = self
            .fingerprint
            .as_deref()
            .map(parse_fingerprint)
            .transpose()?;
        let entitlements = self.entitlements.unwrap_or_default();
        if entitlements.len() > 50 || entitlements.iter().any(|e| e.is_empty() || e.len() > 64) {
            return Err(invalid(
                "entitlements",
                "at most 50 codes of 1 to 64 characters",
            ));
        }
        if let Some(product) = &self.product
            && (product.is_empty() || product.len() > 64)
        {
            return Err(invalid("product", "a product code of 1 to 64 characters"));
        }
        let nonce = checked_nonce(self.nonce)?;
        let input = ValidateInput {
            key,
            fingerprint,
            product: self.product,
            entitlements,
        };
        Ok((input, nonce))
    }
}

/// One fuzz input for the validate endpoint's body, as the handler reads
/// it: JSON into [`ValidateBody`], the field checks, the key parse, and
/// the problem document a refusal becomes. Must never panic. Used by the
/// `validate_body` cargo-fuzz target; the test suite replays its corpus.
#[doc(hidden)]
pub fn fuzz_validate_body(data: &[u8]) {
    let parsed = serde_json::from_slice::<ValidateBody>(data)
        .map_err(|e| WebError::from(crate::web::api::serde_problem(&e)));
    let input = parsed.and_then(|body| {
        let key = KeyDigest::of_input(&body.key);
        body.into_input(key)
    });
    match input {
        Ok(_) => {}
        Err(e) => {
            let _ = actix_web::ResponseError::error_response(&e);
        }
    }
}

/// A nonce an application sends to tell a fresh answer from a replayed one:
/// 1 to 128 printable characters, echoed in `meta.nonce`.
pub(crate) fn checked_nonce(nonce: Option<String>) -> Result<Option<String>, WebError> {
    match nonce {
        Some(n) if n.is_empty() || n.len() > 128 || n.chars().any(char::is_control) => {
            Err(invalid("nonce", "1 to 128 printable characters"))
        }
        other => Ok(other),
    }
}

/// What a signed answer says about itself: the request it answers, when,
/// and the nonce the request sent.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Meta {
    request_id: String,
    ts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
}

impl Meta {
    pub(crate) fn new(
        request_id: &str,
        now: crate::domain::time::Timestamp,
        nonce: Option<String>,
    ) -> Self {
        Self {
            request_id: request_id.to_owned(),
            ts: now.unix(),
            nonce,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ValidationAnswer {
    valid: bool,
    /// One of the validation codes (docs/api.md).
    #[schema(value_type = String)]
    code: &'static str,
    #[schema(value_type = String)]
    detail: &'static str,
    in_grace: bool,
    next_action: Option<NextAction>,
    license: Option<LicenseJson>,
    machine: Option<MachineJson>,
    meta: Meta,
}

/// Validate a license key
///
/// Answers 200 with the same shape for every outcome; `code` says which.
/// Authenticated by the key itself; the answer is signed (`Licensor-Signature`).
#[utoipa::path(post, path = "/api/v1/licenses/validate", tag = "validation",
    request_body = ValidateBody,
    responses(
        (status = 200, description = "The decision", body = ValidationAnswer),
        (status = 400, description = "Malformed JSON or body", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks its rules", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn validate(
    req: HttpRequest,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    ring: web::Data<LiveKeyRing>,
    site: web::Data<Site>,
    limits: web::Data<ApiLimits>,
    usage: web::Data<UsageRecorder>,
) -> Result<HttpResponse, WebError> {
    let ring = ring.current();
    let parsed: ValidateBody = parse_json(&req, &body)?;
    let key = KeyDigest::of_input(&parsed.key);
    let allowance = limit(&limits, &req, key.as_ref())?;
    let (input, nonce) = parsed.into_input(key)?;
    let now = clock.now();
    let outcome = licensing::validate(&db, now, &input).await?;
    let code = outcome.decision.code;
    let ip = client_ip(&req).map(|ip| ip.to_string());
    usage.record_outcome("validate", code.as_str(), ip.as_deref(), now);
    if let Some(license) = &outcome.license {
        crate::web::request::record_license(&req, &license.id);
        usage.record(
            &license.id,
            code,
            ip.as_deref(),
            input.fingerprint.as_ref().map(Fingerprint::as_str),
            license.first_validated_at.is_some(),
            now,
        );
    }
    let rid = request_id(&req);
    let answer = ValidationAnswer {
        valid: outcome.decision.is_valid(),
        code: code.as_str(),
        detail: code.detail(),
        in_grace: outcome.decision.in_grace,
        next_action: next_action(code, outcome.license.as_ref().map(|l| l.id.as_str()), &site),
        machine: outcome.machine.as_ref().map(MachineJson::from),
        license: outcome.license.map(|l| LicenseJson::from_view(l, now)),
        meta: Meta::new(&rid, now, nonce),
    };
    let mut res = signed_json(StatusCode::OK, &answer, &rid, &ring, clock.as_ref())?;
    annotate(&mut res, allowance);
    Ok(res)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    license_type_id: String,
    /// Assign to an existing organization...
    organization_id: Option<String>,
    /// ...or to an email that will claim it (not both).
    email: Option<String>,
    /// Overrides the type's seats.
    max_machines: Option<i64>,
    /// Overrides the type's duration (unix seconds).
    expires_at: Option<i64>,
    #[serde(default)]
    trial: bool,
    /// Entitlement codes of its own instead of its type's.
    entitlements: Option<Vec<String>>,
    /// Why it is issued (an order, a deal): kept in its audit event.
    note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Created {
    license: LicenseJson,
    /// The full key: shown here once and never again.
    key: String,
}

/// Issue a license
///
/// 201 with the license and its full key: the only time the key is shown.
/// Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/licenses", tag = "provisioning",
    request_body = CreateBody, security(("token" = ["write"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")),
    responses(
        (status = 201, body = Created),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn create(
    req: HttpRequest,
    client: ApiClient,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<crate::services::context::Brand>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let parsed: CreateBody = parse_json(&req, &body)?;
    if !is_well_formed(&parsed.license_type_id) {
        return Err(invalid("license_type_id", "is not an id"));
    }
    let holder = match (parsed.organization_id, parsed.email) {
        (Some(_), Some(_)) => {
            return Err(invalid("email", "give organization_id or email, not both"));
        }
        (Some(org), None) => Some(Holder::Organization(
            OrganizationId::parse(&org).map_err(|_| invalid("organization_id", "is not an id"))?,
        )),
        (None, Some(email)) => Some(Holder::Email(
            EmailAddress::parse(&email).map_err(|e| invalid("email", e))?,
        )),
        (None, None) => None,
    };
    let request = IssueRequest {
        license_type_id: parsed.license_type_id,
        holder,
        max_machines: parsed.max_machines,
        expires_at: parsed.expires_at.map(Timestamp::from_unix),
        is_trial: parsed.trial,
        entitlements: parsed.entitlements,
        note: parsed
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
    };
    let rid = request_id(&req);
    let ctx = Ctx::new(
        &db,
        clock.as_ref(),
        Actor::ApiToken {
            token_id: client.token_id.clone(),
        },
    )
    .with_request_id(Some(rid));
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        let issued = licensing::issue_license(&ctx, &cipher, &brand, &request).await?;
        let location = format!("/api/v1/licenses/{}", issued.license.id);
        Ok(Reply::json(
            StatusCode::CREATED,
            &Created {
                license: LicenseJson::new(&issued.license, clock.now()),
                key: issued.key.expose(),
            },
        )?
        .at(location))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    email: Option<String>,
    organization_id: Option<String>,
    status: Option<String>,
    license_type_id: Option<String>,
    product_id: Option<String>,
    /// Licenses with this metadata: `KEY:VALUE`, or a value under any key.
    metadata: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// List licenses
///
/// Filtered by any of the parameters, paginated by `cursor` (the
/// `next_cursor` of the previous page).
#[utoipa::path(get, path = "/api/v1/licenses", tag = "provisioning",
    params(ListQuery), security(("token" = ["read"])),
    responses((status = 200, body = Paged<LicenseJson>), (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn list(
    _client: ApiClient,
    query: web::Query<ListQuery>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    let q = query.into_inner();
    let page = Cursor {
        cursor: q.cursor,
        limit: q.limit,
    };
    let limit = page.limit()?;
    let email = q
        .email
        .map(|e| EmailAddress::parse(&e).map_err(|err| invalid("email", err)))
        .transpose()?;
    for (field, value) in [
        ("organization_id", &q.organization_id),
        ("license_type_id", &q.license_type_id),
        ("product_id", &q.product_id),
    ] {
        if value.as_deref().is_some_and(|v| !is_well_formed(v)) {
            return Err(invalid(field, "is not an id"));
        }
    }
    if let Some(status) = &q.status {
        status
            .parse::<crate::domain::license::LicenseStatus>()
            .map_err(|e| invalid("status", e))?;
    }
    let (metadata_key, metadata_value) = match q.metadata.as_deref().map(str::trim) {
        None => (None, None),
        Some("") => return Err(invalid("metadata", "give KEY:VALUE, or a value")),
        Some(m) => match m.split_once(':') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                (Some(k.to_owned()), Some(v.to_owned()))
            }
            _ => (None, Some(m.to_owned())),
        },
    };
    let filter = LicenseFilter {
        email: email.map(|e| e.as_str().to_owned()),
        metadata_key,
        metadata_value,
        organization_id: q.organization_id,
        status: q.status,
        license_type_id: q.license_type_id,
        product_id: q.product_id,
        after: page.after()?,
    };
    let now = clock.now();
    let licenses = licensing::list_licenses(&db, &filter, limit).await?;
    let data: Vec<LicenseJson> = licenses.iter().map(|l| LicenseJson::new(l, now)).collect();
    Ok(HttpResponse::Ok().json(Paged::new(data, limit, |l| l.id.clone())))
}

/// The most machines a license's detail lists (the oldest first): a site
/// license may have tens of thousands.
pub(crate) const MACHINES_LISTED: i64 = 1_000;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LicenseDetail {
    pub(crate) license: LicenseJson,
    /// Its live machines, the oldest first: at most 1,000.
    pub(crate) machines: Vec<MachineJson>,
    /// How many live machines it has (more than listed past 1,000).
    pub(crate) machines_total: i64,
    /// String values by key, set with `PATCH`.
    pub(crate) metadata: std::collections::BTreeMap<String, String>,
    /// The machine a `DELETE` deactivated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) deactivated: Option<MachineJson>,
}

/// A license id from the path: 404 unless it is one we issue.
pub(crate) fn license_id(path: &str) -> Result<LicenseId, WebError> {
    LicenseId::parse(path).map_err(|_| WebError::NotFound)
}

/// One license and its active machines
#[utoipa::path(get, path = "/api/v1/licenses/{id}", tag = "provisioning",
    params(("id" = String, Path)), security(("token" = ["read"])),
    responses((status = 200, body = LicenseDetail), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn get(
    _client: ApiClient,
    path: web::Path<String>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    let id = license_id(&path)?;
    let license = licensing::get_license(&db, &id).await?;
    let machines = licensing::active_machines(&db, &id, MACHINES_LISTED).await?;
    let metadata = licensing::metadata_of(&db, &id).await?;
    Ok(HttpResponse::Ok().json(LicenseDetail::new(
        &license,
        &machines,
        metadata,
        clock.now(),
    )))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    reason: Option<String>,
    /// renew: days to add to the later of the expiry and now.
    days: Option<i64>,
    /// renew: the new expiry instead.
    expires_at: Option<i64>,
}

/// Suspend, reinstate, renew or revoke a license
///
/// `renew` takes `days` (added to the later of the expiry and now) or
/// `expires_at`; every action takes an optional `reason` for the audit log.
/// Accepts `Idempotency-Key`: a retry with the same key gets the first
/// answer and changes nothing more.
#[utoipa::path(post, path = "/api/v1/licenses/{id}/actions/{action}", tag = "provisioning",
    params(("id" = String, Path), ("action" = String, Path, description = "suspend, reinstate, renew or revoke"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer on retry")),
    request_body(content = Option<ActionBody>), security(("token" = ["write"])),
    responses(
        (status = 200, body = LicenseJson),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, body = ProblemDoc, content_type = "application/problem+json"),
    ))]
pub async fn action(
    req: HttpRequest,
    client: ApiClient,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    client.require(Scope::Write)?;
    let (id, action) = path.into_inner();
    let id = license_id(&id)?;
    let parsed: ActionBody = if body.is_empty() {
        ActionBody::default()
    } else {
        parse_json(&req, &body)?
    };
    if let Some(reason) = &parsed.reason
        && reason.chars().count() > 500
    {
        return Err(invalid("reason", "at most 500 characters"));
    }
    let ctx = Ctx::new(
        &db,
        clock.as_ref(),
        Actor::ApiToken {
            token_id: client.token_id.clone(),
        },
    )
    .with_request_id(Some(request_id(&req)));
    let reason = parsed.reason.as_deref();
    let renewal = if action == "renew" {
        Some(match (parsed.days, parsed.expires_at) {
            (Some(days), None) => Renewal::ExtendDays(days),
            (None, Some(at)) => Renewal::Until(Timestamp::from_unix(at)),
            _ => return Err(invalid("days", "give days or expires_at (one of them)")),
        })
    } else {
        None
    };
    let status_action = match renewal {
        Some(_) => None,
        None => {
            let Some(action) = LicenseAction::parse(&action) else {
                return Err(WebError::NotFound);
            };
            if parsed.days.is_some() || parsed.expires_at.is_some() {
                return Err(invalid("days", "only renew takes days or expires_at"));
            }
            Some(action)
        }
    };
    // A retry with the same Idempotency-Key gets the first answer: a
    // renewal sent twice extends once.
    idempotency::for_token(&req, &db, clock.as_ref(), &client, &body, || async {
        let license = match (renewal, status_action) {
            (Some(renewal), _) => licensing::renew(&ctx, &brand, &id, renewal, reason).await?,
            (None, Some(action)) => {
                licensing::change_status(&ctx, &brand, &id, action, reason).await?
            }
            (None, None) => return Err(WebError::NotFound),
        };
        Reply::json(
            StatusCode::OK,
            &serde_json::json!({ "license": LicenseJson::new(&license, clock.now()) }),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validate_body_fuzz_corpus_never_panics() {
        let corpus = crate::test_support::fuzz_corpus("validate_body");
        assert!(corpus.len() >= 10, "the corpus is missing");
        for input in &corpus {
            fuzz_validate_body(input);
        }
    }

    #[test]
    fn the_body_checks_refuse_each_bad_field() {
        let body = |json: &str| serde_json::from_str::<ValidateBody>(json).unwrap();
        let (input, nonce) = body(r#"{"key":"k","fingerprint":"fp-1","product":"app","entitlements":["pro"],"nonce":"n1"}"#)
            .into_input(None)
            .unwrap();
        assert_eq!(input.entitlements, vec!["pro".to_owned()]);
        assert_eq!(nonce.as_deref(), Some("n1"));
        for bad in [
            r#"{"key":"k","fingerprint":"a b"}"#,
            r#"{"key":"k","entitlements":[""]}"#,
            r#"{"key":"k","product":""}"#,
            r#"{"key":"k","nonce":"a\u0000b"}"#,
        ] {
            assert!(body(bad).into_input(None).is_err(), "{bad}");
        }
    }
}
