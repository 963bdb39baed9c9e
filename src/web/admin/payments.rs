//! `/admin/payments`: provider events that need the vendor (an unknown
//! price, a missing or foreign reference, a payment for a revoked
//! license), with what each says and a retry once it is mapped.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::payments::{EventState, Provider};
use crate::domain::role::Capability;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::context::Brand;
use crate::services::payments::{self, Receipt, RetryError, Seller};
use crate::store::Db;
use crate::web::admin::Staff;
use crate::web::error::{Problem, WebError};
use crate::web::layout::{FormPage, Page, check_csrf, flash, render_private, see_other};

struct Row {
    provider: &'static str,
    event_id: String,
    event_type: String,
    received: String,
    detail: String,
    /// What the event names, to map it: prices, reference, email.
    names: String,
}

#[derive(Template)]
#[template(path = "admin/payments.html")]
struct PaymentsPage {
    page: Page,
    rows: Vec<Row>,
}

/// The prices, reference and email an event names, for a person to map.
fn names_in(body: &str) -> String {
    let Ok(event) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    let mut found = Vec::new();
    collect(&event, &mut found);
    found.sort();
    found.dedup();
    found.join(", ")
}

fn collect(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                let wanted = matches!(
                    key.as_str(),
                    "client_reference_id" | "licensor_reference" | "customer_email" | "email"
                );
                match v.as_str() {
                    Some(text)
                        if wanted || text.starts_with("price_") || text.starts_with("pri_") =>
                    {
                        found.push(text.chars().take(120).collect());
                    }
                    _ => collect(v, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
        _ => {}
    }
}

/// `GET /admin/payments`
pub async fn page(
    FormPage(page): FormPage,
    req: HttpRequest,
    staff: Staff,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
) -> Result<HttpResponse, WebError> {
    staff.require(Capability::Read)?;
    let ctx = staff.ctx(&db, clock.as_ref(), &req);
    let rows = payments::needing_attention(&ctx)
        .await?
        .into_iter()
        .map(|e| Row {
            provider: e.provider.as_str(),
            received: Timestamp::from_unix(e.received_at).to_utc_string(),
            names: names_in(&e.body),
            event_id: e.event_id,
            event_type: e.event_type,
            detail: e.detail,
        })
        .collect();
    render_private(&PaymentsPage {
        page: page.titled("Payments"),
        rows,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/payments/{provider}/{event_id}/retry`
pub async fn retry(
    req: HttpRequest,
    staff: Staff,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<RetryForm>,
    db: web::Data<Db>,
    clock: web::Data<dyn Clock>,
    cipher: web::Data<DataCipher>,
    brand: web::Data<Brand>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf)?;
    staff.require(Capability::Sell)?;
    let (provider, event_id) = path.into_inner();
    let provider: Provider = provider.parse().map_err(|_| WebError::NotFound)?;
    let seller = Seller {
        ctx: staff.ctx(&db, clock.as_ref(), &req),
        cipher: &cipher,
        brand: &brand,
    };
    let receipt = match payments::retry(&seller, provider, &event_id).await {
        Ok(receipt) => receipt,
        Err(RetryError::NotFound) => return Err(WebError::NotFound),
        Err(e @ RetryError::NotWaiting(_)) => {
            return Err(Problem::new(StatusCode::CONFLICT, "not_waiting", e.to_string()).into());
        }
        Err(RetryError::Failed(e)) => return Err(e.into()),
    };
    let message = match &receipt {
        Receipt::Settled(outcome) if outcome.state == EventState::NeedsAttention => {
            format!("{event_id} still needs attention: {}", outcome.detail)
        }
        Receipt::Settled(outcome) => format!("{event_id}: {}", outcome.detail),
        Receipt::Duplicate(state) => format!("{event_id} was settled meanwhile ({state})."),
    };
    flash(&session, &message);
    Ok(see_other("/admin/payments"))
}
