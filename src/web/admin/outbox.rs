//! `/admin/outbox`: queued, failed, sent and dead messages with their last
//! error, and a resend action.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::id::is_well_formed;
use crate::domain::outbox::DeliveryStatus;
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::services::notify::{self, Resent};
use crate::services::outbox::{self, OutboxEntry, Shown};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::admin::form::is_reason;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private, see_other};

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct OutboxQuery {
    #[serde(default)]
    status: String,
    /// `<created_at>.<id>` of the last row shown.
    #[serde(default)]
    cursor: String,
}

struct Row {
    id: String,
    created_at: i64,
    channel: &'static str,
    topic: String,
    recipient: String,
    status: String,
    attempts: i64,
    created: String,
    sent: String,
    next_attempt: String,
    last_error: String,
    license_id: String,
    resend_label: &'static str,
}

impl Row {
    fn new(e: OutboxEntry) -> Self {
        let at = |t: i64| Timestamp::from_unix(t).to_utc_string();
        Self {
            resend_label: match e.status {
                DeliveryStatus::Sent => "Send again",
                DeliveryStatus::Dead => "Retry",
                DeliveryStatus::Queued => "Send now",
            },
            status: e.shown_status().to_owned(),
            next_attempt: if e.status == DeliveryStatus::Queued {
                at(e.next_attempt_at)
            } else {
                String::new()
            },
            sent: e.sent_at.map(at).unwrap_or_default(),
            created: at(e.created_at),
            created_at: e.created_at,
            last_error: e
                .last_error
                .map(|m| m.chars().take(300).collect())
                .unwrap_or_default(),
            license_id: e.license_id.unwrap_or_default(),
            id: e.id,
            channel: e.channel.as_str(),
            topic: e.topic,
            recipient: e.recipient,
            attempts: e.attempts,
        }
    }
}

struct Tab {
    name: &'static str,
    count: i64,
    current: bool,
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    page: Page,
    tabs: Vec<Tab>,
    rows: Vec<Row>,
    next: Option<String>,
    status: &'static str,
}

/// `GET /admin/outbox[?status=queued|failed|sent|dead][&cursor=…]`
pub async fn page(
    FormPage(page): FormPage,
    staff: Staff,
    query: web::Query<OutboxQuery>,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let shown = Shown::parse(&query.status).ok_or_else(|| WebError::BadRequest {
        code: "status",
        detail: "status is one of all, queued, failed, sent, dead".to_owned(),
    })?;
    let before = match query.cursor.split_once('.') {
        None if query.cursor.is_empty() => None,
        Some((at, id)) if is_well_formed(id) => {
            Some((at.parse::<i64>().map_err(|_| bad_cursor())?, id.to_owned()))
        }
        _ => return Err(bad_cursor()),
    };
    let entries = outbox::page(
        &db,
        shown,
        before.as_ref().map(|(at, id)| (*at, id.as_str())),
        PAGE_SIZE + 1,
    )
    .await?;
    let more = entries.len() > usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    let mut rows: Vec<Row> = entries.into_iter().map(Row::new).collect();
    rows.truncate(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX));
    let next = rows
        .last()
        .filter(|_| more)
        .map(|last| format!("{}.{}", last.created_at, last.id));
    let counts = outbox::counts(&db).await?;
    let count = |name: &str| {
        counts
            .iter()
            .filter(|(s, _)| s == name)
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    let tabs = [
        Shown::All,
        Shown::Queued,
        Shown::Failed,
        Shown::Sent,
        Shown::Dead,
    ]
    .into_iter()
    .map(|s| Tab {
        name: s.as_str(),
        count: match s {
            Shown::All => count("queued") + count("sent") + count("dead"),
            other => count(other.as_str()),
        },
        current: s == shown,
    })
    .collect();
    render_private(&OutboxPage {
        page: page.titled("Outbox"),
        tabs,
        rows,
        next,
        status: shown.as_str(),
    })
}

fn bad_cursor() -> WebError {
    WebError::BadRequest {
        code: "cursor",
        detail: "the cursor is not one this page gave".to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// The tab to return to.
    #[serde(default)]
    status: String,
}

/// `POST /admin/outbox/{id}/resend`: a reason is required; the audit log
/// records it with the staff member.
pub async fn resend(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<ResendForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Support)?;
    let back = format!(
        "/admin/outbox?status={}",
        Shown::parse(&form.status).unwrap_or(Shown::All).as_str()
    );
    if !is_well_formed(&path) {
        return Err(WebError::NotFound);
    }
    let reason = form.reason.trim();
    if !is_reason(reason) {
        flash(
            &session,
            "Give a reason for the resend (up to 500 characters).",
        );
        return Ok(see_other(&back));
    }
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    match notify::resend(&ctx, &path, reason).await? {
        None => Err(WebError::NotFound),
        Some(Resent::Requeued) => {
            flash(&session, "The message goes out again now.");
            Ok(see_other(&back))
        }
        Some(Resent::Copied(_)) => {
            flash(&session, "A copy of the message is queued.");
            Ok(see_other("/admin/outbox?status=queued"))
        }
    }
}
