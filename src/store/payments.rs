//! What payment providers told us, and what it is about: each event once by
//! its id with its outcome; the references checkouts carry; which license
//! each subscription and payment paid for.

use sqlx::AnyPool;

use crate::config::Backend;
use crate::domain::payments::{CheckoutPurpose, EventState, Provider};
use crate::domain::time::Timestamp;
use crate::store::Tx;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    #[sqlx(try_from = "String")]
    pub provider: Provider,
    pub event_id: String,
    pub event_type: String,
    pub received_at: i64,
    pub body: String,
    #[sqlx(try_from = "String")]
    pub state: EventState,
    pub detail: String,
    pub license_id: Option<String>,
    pub settled_at: Option<i64>,
}

macro_rules! select_event {
    () => {
        "SELECT provider, event_id, event_type, received_at, body, state, detail, license_id, \
         settled_at FROM provider_events "
    };
}

/// Stores a verified event as received, unless its id is stored already;
/// returns whether it is new. Committed before the event is applied, so a
/// crash in between leaves it `received` for the provider's retry.
pub async fn record_event(
    pool: &AnyPool,
    provider: Provider,
    event_id: &str,
    event_type: &str,
    body: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO provider_events (provider, event_id, event_type, received_at, body, state) \
         VALUES ($1, $2, $3, $4, $5, 'received') ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(provider.as_str())
    .bind(event_id)
    .bind(event_type)
    .bind(now.unix())
    .bind(body)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The event, locked for this transaction on PostgreSQL (SQLite's write
/// transaction holds the whole database): concurrent deliveries of one
/// event wait here, and the later ones find it settled.
pub async fn lock_event(
    tx: &mut Tx,
    provider: Provider,
    event_id: &str,
) -> Result<Option<EventRow>, sqlx::Error> {
    let sql = match tx.backend() {
        Backend::Sqlite => concat!(select_event!(), "WHERE provider = $1 AND event_id = $2"),
        Backend::Postgres => concat!(
            select_event!(),
            "WHERE provider = $1 AND event_id = $2 FOR UPDATE"
        ),
    };
    sqlx::query_as(sql)
        .bind(provider.as_str())
        .bind(event_id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn find_event(
    pool: &AnyPool,
    provider: Provider,
    event_id: &str,
) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_event!(),
        "WHERE provider = $1 AND event_id = $2"
    ))
    .bind(provider.as_str())
    .bind(event_id)
    .fetch_optional(pool)
    .await
}

/// Records what became of an event.
pub async fn settle_event(
    tx: &mut Tx,
    provider: Provider,
    event_id: &str,
    state: EventState,
    detail: &str,
    license_id: Option<&str>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE provider_events SET state = $1, detail = $2, license_id = $3, settled_at = $4 \
         WHERE provider = $5 AND event_id = $6",
    )
    .bind(state.as_str())
    .bind(detail)
    .bind(license_id)
    .bind(now.unix())
    .bind(provider.as_str())
    .bind(event_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Events in one state, oldest first.
pub async fn events_in_state(
    pool: &AnyPool,
    state: EventState,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_event!(),
        "WHERE state = $1 ORDER BY received_at, event_id LIMIT $2"
    ))
    .bind(state.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A license's provider events, newest first.
pub async fn events_of_license(
    pool: &AnyPool,
    license_id: &str,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_event!(),
        "WHERE license_id = $1 ORDER BY received_at DESC, event_id DESC LIMIT 200"
    ))
    .bind(license_id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReferenceRow {
    pub token: String,
    pub offer_id: String,
    #[sqlx(try_from = "String")]
    pub purpose: CheckoutPurpose,
    pub organization_id: Option<String>,
    pub license_id: Option<String>,
    pub email: Option<String>,
    pub created_at: i64,
}

#[derive(Debug)]
pub struct NewReference<'a> {
    pub token: &'a str,
    pub offer_id: &'a str,
    pub purpose: CheckoutPurpose,
    pub organization_id: Option<&'a str>,
    pub license_id: Option<&'a str>,
    pub email: Option<&'a str>,
}

pub async fn insert_reference(
    pool: &AnyPool,
    reference: &NewReference<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO checkout_references (token, offer_id, purpose, organization_id, license_id, \
         email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(reference.token)
    .bind(reference.offer_id)
    .bind(reference.purpose.as_str())
    .bind(reference.organization_id)
    .bind(reference.license_id)
    .bind(reference.email)
    .bind(now.unix())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn find_reference(tx: &mut Tx, token: &str) -> Result<Option<ReferenceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT token, offer_id, purpose, organization_id, license_id, email, created_at \
         FROM checkout_references WHERE token = $1",
    )
    .bind(token)
    .fetch_optional(&mut **tx)
    .await
}

/// The license a purchase issued, so a second event of the same checkout
/// finds it instead of issuing another.
pub async fn set_reference_license(
    tx: &mut Tx,
    token: &str,
    license_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE checkout_references SET license_id = $1 WHERE token = $2")
        .bind(license_id)
        .bind(token)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub license_id: Option<String>,
    pub offer_id: Option<String>,
    pub period_end: Option<i64>,
    pub canceled_at: Option<i64>,
}

pub async fn find_subscription(
    tx: &mut Tx,
    provider: Provider,
    subscription_id: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT license_id, offer_id, period_end, canceled_at FROM provider_subscriptions \
         WHERE provider = $1 AND subscription_id = $2",
    )
    .bind(provider.as_str())
    .bind(subscription_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Notes a paid period end, keeping the latest seen; returns it.
pub async fn note_period_end(
    tx: &mut Tx,
    provider: Provider,
    subscription_id: &str,
    period_end: Timestamp,
    now: Timestamp,
) -> Result<Timestamp, sqlx::Error> {
    let (latest,): (i64,) = sqlx::query_as(
        "INSERT INTO provider_subscriptions (provider, subscription_id, period_end, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (provider, subscription_id) DO UPDATE SET \
         period_end = CASE WHEN provider_subscriptions.period_end IS NULL \
           OR provider_subscriptions.period_end < excluded.period_end \
           THEN excluded.period_end ELSE provider_subscriptions.period_end END, \
         updated_at = excluded.updated_at \
         RETURNING period_end",
    )
    .bind(provider.as_str())
    .bind(subscription_id)
    .bind(period_end.unix())
    .bind(now.unix())
    .fetch_one(&mut **tx)
    .await?;
    Ok(Timestamp::from_unix(latest))
}

/// Ties a subscription to the license it pays for.
pub async fn link_subscription(
    tx: &mut Tx,
    provider: Provider,
    subscription_id: &str,
    license_id: &str,
    offer_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO provider_subscriptions (provider, subscription_id, license_id, offer_id, \
         updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, subscription_id) \
         DO UPDATE SET license_id = excluded.license_id, offer_id = excluded.offer_id, \
         updated_at = excluded.updated_at",
    )
    .bind(provider.as_str())
    .bind(subscription_id)
    .bind(license_id)
    .bind(offer_id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn cancel_subscription(
    tx: &mut Tx,
    provider: Provider,
    subscription_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO provider_subscriptions (provider, subscription_id, canceled_at, updated_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (provider, subscription_id) DO UPDATE SET \
         canceled_at = COALESCE(provider_subscriptions.canceled_at, excluded.canceled_at), \
         updated_at = excluded.updated_at",
    )
    .bind(provider.as_str())
    .bind(subscription_id)
    .bind(now.unix())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A license's subscriptions (normally one), for its page.
pub async fn subscriptions_of_license(
    pool: &AnyPool,
    license_id: &str,
) -> Result<Vec<(String, String, Option<i64>, Option<i64>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider, subscription_id, period_end, canceled_at FROM provider_subscriptions \
         WHERE license_id = $1 ORDER BY updated_at DESC",
    )
    .bind(license_id)
    .fetch_all(pool)
    .await
}

/// Ties a payment's provider ids to the license it paid for.
pub async fn link_payments(
    tx: &mut Tx,
    provider: Provider,
    payment_ids: &[String],
    license_id: &str,
    offer_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    for payment_id in payment_ids {
        sqlx::query(
            "INSERT INTO provider_payments (provider, payment_id, license_id, offer_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, payment_id) DO NOTHING",
        )
        .bind(provider.as_str())
        .bind(payment_id)
        .bind(license_id)
        .bind(offer_id)
        .bind(now.unix())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The license and offer one of these payment ids paid for.
pub async fn license_of_payment(
    tx: &mut Tx,
    provider: Provider,
    payment_ids: &[String],
) -> Result<Option<(String, String)>, sqlx::Error> {
    for payment_id in payment_ids {
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT license_id, offer_id FROM provider_payments \
             WHERE provider = $1 AND payment_id = $2",
        )
        .bind(provider.as_str())
        .bind(payment_id)
        .fetch_optional(&mut **tx)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}
