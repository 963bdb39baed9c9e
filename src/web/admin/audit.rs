//! `/admin/audit`: every event of the system, newest first, filtered by
//! action, actor, entity and dates, in words (who, what, before -> after),
//! and the filtered range as CSV or JSON lines. Staff only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::audit::EventKind;
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::services::audit_log::{self, EXPORT_LIMIT, EventFilter, FilterError, Query};
use crate::services::support::{self, EventRow};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::timeline;
use crate::web::admin::tokens::csv_download;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, render_private_status};

/// Events per page.
const PAGE: i64 = 50;

/// The filter fields, as typed (kept on the page), and the page position.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    entity: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// `OCCURRED_AT:ID` of the last event of the previous page.
    #[serde(default)]
    before: String,
}

impl AuditQuery {
    fn fields(&self) -> Query<'_> {
        Query {
            action: &self.action,
            actor: &self.actor,
            entity: &self.entity,
            from: &self.from,
            to: &self.to,
        }
    }

    /// The filters as a query string, for the next page and the exports.
    fn query_string(&self) -> String {
        let pairs = [
            ("action", &self.action),
            ("actor", &self.actor),
            ("entity", &self.entity),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
            query.append_pair(k, v.trim());
        }
        query.finish()
    }
}

/// One event as the page lists it.
struct Line {
    at: String,
    what: String,
    kind: &'static str,
    actor: String,
    license_id: Option<String>,
    organization_id: Option<String>,
    details: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    page: Page,
    query: &'a AuditQuery,
    kinds: Vec<&'static str>,
    lines: Vec<Line>,
    /// The link to the next (older) page.
    older: Option<String>,
    filters: String,
    error: Option<FilterError>,
}

impl AuditPage<'_> {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.detail.as_str())
    }
}

async fn filter_of(
    db: &Db,
    query: &AuditQuery,
) -> Result<Result<EventFilter, FilterError>, WebError> {
    let mut filter = match audit_log::filter(db, &query.fields()).await? {
        Ok(filter) => filter,
        Err(e) => return Ok(Err(e)),
    };
    if let Some((at, id)) = query.before.split_once(':')
        && let Ok(at) = at.parse::<i64>()
    {
        filter.before = Some((at, id.to_owned()));
    }
    Ok(Ok(filter))
}

/// `GET /admin/audit`
pub async fn page(
    FormPage(page): FormPage,
    staff: Staff,
    query: web::Query<AuditQuery>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let kinds = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    let filters = query.query_string();
    let render = |status, lines, older, error| {
        render_private_status(
            status,
            &AuditPage {
                page: page.titled("Audit log"),
                query: &query,
                kinds,
                lines,
                older,
                filters: filters.clone(),
                error,
            },
        )
    };
    let filter = match filter_of(&db, &query).await? {
        Ok(filter) => filter,
        Err(e) => return render(StatusCode::UNPROCESSABLE_ENTITY, Vec::new(), None, Some(e)),
    };
    let events = audit_log::events(&db, &filter, PAGE).await?;
    let older = (events.len() as i64 == PAGE)
        .then(|| events.last())
        .flatten()
        .map(|e| {
            let sep = if filters.is_empty() { "" } else { "&" };
            format!(
                "/admin/audit?{filters}{sep}before={}:{}",
                e.occurred_at, e.id
            )
        });
    let lines = lines(&db, &events).await?;
    render(StatusCode::OK, lines, older, None)
}

async fn lines(db: &Db, events: &[EventRow]) -> Result<Vec<Line>, WebError> {
    let words = timeline::lines(db, events).await?;
    Ok(events
        .iter()
        .zip(words)
        .map(|(e, w)| Line {
            at: w.at,
            what: w.what,
            kind: e.kind.as_str(),
            actor: w.actor,
            license_id: e.license_id.clone(),
            organization_id: e.organization_id.clone(),
            details: w.details,
        })
        .collect())
}

/// The events of the filtered range for an export (at most
/// [`EXPORT_LIMIT`]), or the filter's error as a 422.
async fn exported(db: &Db, query: &AuditQuery) -> Result<Vec<EventRow>, WebError> {
    match filter_of(db, query).await? {
        Ok(filter) => Ok(audit_log::events(db, &filter, EXPORT_LIMIT).await?),
        Err(e) => Err(crate::web::api::invalid(e.field, e.detail)),
    }
}

/// `GET /admin/audit.csv`: the filtered range, newest first.
pub async fn csv(
    staff: Staff,
    query: web::Query<AuditQuery>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let events = exported(&db, &query).await?;
    let names = support::actor_names(&db, &events).await?;
    let header = [
        "occurred_at",
        "action",
        "actor_kind",
        "actor",
        "organization_id",
        "user_id",
        "license_id",
        "changes",
    ];
    let rows = events.into_iter().map(|e| {
        let actor = e
            .actor_id
            .as_ref()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
            .unwrap_or_default();
        vec![
            Timestamp::from_unix(e.occurred_at).to_rfc3339(),
            e.kind.as_str().to_owned(),
            e.actor_kind.as_str().to_owned(),
            actor,
            e.organization_id.unwrap_or_default(),
            e.user_id.unwrap_or_default(),
            e.license_id.unwrap_or_default(),
            timeline::details(&e.data).join("; "),
        ]
    });
    Ok(csv_download("audit", &header, rows))
}

/// `GET /admin/audit.jsonl`: the filtered range, one JSON object a line,
/// with each event's data as recorded.
pub async fn jsonl(
    staff: Staff,
    query: web::Query<AuditQuery>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let events = exported(&db, &query).await?;
    let names = support::actor_names(&db, &events).await?;
    let mut body = String::new();
    for e in events {
        let data: serde_json::Value =
            serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null);
        let line = serde_json::json!({
            "id": e.id,
            "occurred_at": e.occurred_at,
            "action": e.kind.as_str(),
            "actor_kind": e.actor_kind.as_str(),
            "actor_id": e.actor_id,
            "actor": e.actor_id.as_ref().and_then(|id| names.get(id)),
            "organization_id": e.organization_id,
            "user_id": e.user_id,
            "license_id": e.license_id,
            "data": data,
        });
        body.push_str(&line.to_string());
        body.push('\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"audit.jsonl\"",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}
