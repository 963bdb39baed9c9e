//! `/admin/webhooks`: the CRM link. Endpoints with their event filter and
//! signing secret (shown once), and each endpoint's delivery log with the
//! attempts and response codes, and a redeliver button. Admins only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::clock::Clock;
use crate::domain::audit::WebhookEvent;
use crate::domain::id::EndpointId;
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::notify::Resent;
use crate::services::outbox::{self, OutboxEntry};
use crate::services::webhooks::EndpointRow;
use crate::services::webhooks::{self, WebhookError};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::error::WebError;
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private_status, see_other};

fn at(t: i64) -> String {
    Timestamp::from_unix(t).to_utc_string()
}

struct EndpointLine {
    id: String,
    url: String,
    events: String,
    enabled: bool,
    created: String,
}

impl EndpointLine {
    fn new(e: EndpointRow) -> Self {
        Self {
            events: if e.event_filter == "*" {
                "every event".to_owned()
            } else {
                e.event_filter.replace(',', ", ")
            },
            enabled: e.enabled == 1,
            created: at(e.created_at),
            id: e.id,
            url: e.url,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct WebhooksPage {
    page: Page,
    endpoints: Vec<EndpointLine>,
    event_types: Vec<&'static str>,
    /// The form as typed after an error (empty first).
    typed: Typed,
    error: Option<String>,
}

/// The new-endpoint form as typed.
#[derive(Default)]
struct Typed {
    url: String,
    events: Vec<String>,
}

impl Typed {
    fn checked(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// The session entry naming the endpoint whose secret the next page of
/// that endpoint shows once (never the secret itself).
const NEW_ENDPOINT: &str = "new_webhook_endpoint";

async fn render_list(
    db: &Db,
    page: Page,
    status: StatusCode,
    typed: Typed,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let endpoints = webhooks::endpoints(db)
        .await?
        .into_iter()
        .map(EndpointLine::new)
        .collect();
    render_private_status(
        status,
        &WebhooksPage {
            page: page.titled("Webhooks"),
            endpoints,
            event_types: WebhookEvent::subscribable()
                .map(WebhookEvent::as_str)
                .collect(),
            typed,
            error,
        },
    )
}

/// `GET /admin/webhooks`
pub async fn page(
    FormPage(page): FormPage,
    staff: Staff,
    db: web::Data<Db>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    let typed = Typed {
        url: String::new(),
        events: vec!["*".to_owned()],
    };
    render_list(&db, page, StatusCode::OK, typed, None).await
}

/// `POST /admin/webhooks` (form: csrf, url, events…): creates the endpoint
/// and goes to its page, which shows the signing secret once.
pub async fn create(
    req: HttpRequest,
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    body: web::Bytes,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    // Repeated `events` fields: read the form by hand.
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    check_csrf(&session, &field("csrf"))?;
    staff.require(Capability::Administer)?;
    let events: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "events")
        .map(|(_, v)| v.clone())
        .collect();
    let typed = Typed {
        url: field("url"),
        events: events.clone(),
    };
    let refuse = |page: Page, typed: Typed, e: WebhookError| {
        let db = db.clone();
        async move {
            render_list(
                &db,
                page,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                Some(e.to_string()),
            )
            .await
        }
    };
    let filter = match webhooks::parse_filter(&events) {
        Ok(f) => f,
        Err(e) => return refuse(page, typed, e).await,
    };
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    match webhooks::create_endpoint(&ctx, &cipher, &typed.url, &filter).await {
        Ok((id, _secret)) => {
            let _ = session.insert(NEW_ENDPOINT, &id);
            Ok(see_other(&format!("/admin/webhooks/{id}")))
        }
        Err(WebhookError::Unexpected(e)) => Err(e.into()),
        Err(e) => refuse(page, typed, e).await,
    }
}

struct DeliveryLine {
    id: String,
    created: String,
    event: String,
    status: String,
    attempts: i64,
    code: String,
    error: String,
    sent: String,
}

impl DeliveryLine {
    fn new(e: OutboxEntry) -> Self {
        Self {
            status: e.shown_status().to_owned(),
            created: at(e.created_at),
            sent: e.sent_at.map(at).unwrap_or_default(),
            code: e
                .last_status_code
                .map(|c| c.to_string())
                .unwrap_or_default(),
            error: e.last_error.unwrap_or_default(),
            id: e.id,
            event: e.topic,
            attempts: e.attempts,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/webhook.html")]
struct EndpointPage {
    page: Page,
    endpoint: EndpointLine,
    /// The signing secret, on the first view after creating the endpoint.
    secret: Option<String>,
    deliveries: Vec<DeliveryLine>,
}

/// `GET /admin/webhooks/{id}`: the endpoint and its delivery log.
pub async fn endpoint(
    FormPage(page): FormPage,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    db: web::Data<Db>,
    cipher: web::Data<DataCipher>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Administer)?;
    let id = EndpointId::parse(&path).map_err(|_| WebError::NotFound)?;
    let e = webhooks::endpoint(&db, &id)
        .await?
        .ok_or(WebError::NotFound)?;
    let deliveries = outbox::deliveries_to(&db, &e.id, 100)
        .await?
        .into_iter()
        .map(DeliveryLine::new)
        .collect();
    let just_created = session.get::<String>(NEW_ENDPOINT).ok().flatten() == Some(e.id.clone());
    let secret = if just_created {
        session.remove(NEW_ENDPOINT);
        Some(webhooks::secret_of(&db, &cipher, &e.id).await?.to_string())
    } else {
        None
    };
    render_private_status(
        StatusCode::OK,
        &EndpointPage {
            page: page.titled("Webhook endpoint"),
            endpoint: EndpointLine::new(e),
            secret,
            deliveries,
        },
    )
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct EndpointAction {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    delivery_id: String,
    #[serde(default)]
    reason: String,
    /// `yes` from the box that says what deleting does.
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/webhooks/{id}/actions`: enable, disable, delete, redeliver.
pub async fn action(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<String>,
    form: web::Form<EndpointAction>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Administer)?;
    let id = EndpointId::parse(&path).map_err(|_| WebError::NotFound)?;
    let back = format!("/admin/webhooks/{}", id.as_str());
    let reason = form.reason.trim();
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let ctx = if reason.is_empty() {
        ctx
    } else {
        ctx.with_reason(reason)
    };
    let done = match form.action.as_str() {
        "enable" => webhooks::set_enabled(&ctx, &id, true)
            .await
            .map(|()| "Enabled."),
        "disable" => webhooks::set_enabled(&ctx, &id, false)
            .await
            .map(|()| "Disabled: new events are not queued for it."),
        "test" => webhooks::send_test(&ctx, &id).await.map(|()| {
            "A test event (webhook.test) is queued: it appears in the deliveries below, with your endpoint's answer."
        }),
        "delete" if form.confirm != "yes" => Err(WebhookError::Unconfirmed),
        "delete" => {
            webhooks::delete(&ctx, &id).await?;
            flash(&session, "The endpoint and its delivery log are deleted.");
            return Ok(see_other("/admin/webhooks"));
        }
        "redeliver" => {
            let reason = if reason.is_empty() {
                "redeliver"
            } else {
                reason
            };
            match webhooks::redeliver(&ctx, &id, &form.delivery_id, reason).await? {
                Some(Resent::Copied(_)) => Ok("Queued again, with the same webhook-id."),
                Some(Resent::Requeued) => Ok("Sent again now."),
                None => return Err(WebError::NotFound),
            }
        }
        _ => {
            return Err(WebError::BadRequest {
                code: "action",
                detail: "the action is enable, disable, test, delete or redeliver".to_owned(),
            });
        }
    };
    match done {
        Ok(message) => flash(&session, message),
        Err(WebhookError::NotFound) => return Err(WebError::NotFound),
        Err(WebhookError::Unexpected(e)) => return Err(e.into()),
        Err(e) => flash(&session, &e.to_string()),
    }
    Ok(see_other(&back))
}

impl From<WebhookError> for WebError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotFound => WebError::NotFound,
            WebhookError::Unexpected(e) => e.into(),
            other => WebError::BadRequest {
                code: "webhook",
                detail: other.to_string(),
            },
        }
    }
}
