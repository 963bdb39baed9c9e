//! Selling through Stripe and Paddle. Each provider's module verifies a
//! delivery's signature over the raw body and reads the event into one
//! provider-neutral [`ProviderEvent`]; this service stores each event once
//! by its id, then applies it exactly once in one write transaction that
//! also records what became of it (docs/payments.md).
//!
//! Stored before it is applied: a crash or a failure in between leaves the
//! event `received`, the provider's retry (a 5xx makes it retry) applies
//! it, and concurrent deliveries of one event wait on its row and find it
//! settled. An event that cannot be matched is kept as `needs_attention`
//! (the provider gets its 200) until the vendor maps it and retries it.

mod apply;
pub mod checkout;
pub mod offers;
pub mod paddle;
pub mod read;
pub mod signature;
pub mod stripe;

use anyhow::Context;

use crate::domain::payments::{EventState, Provider, ProviderEvent};
use crate::secret::DataCipher;
use crate::services::context::{Brand, Ctx};
use crate::store::payments::{self, EventRow};

pub use apply::Outcome;
pub use read::ReadError;
pub use signature::SignatureError;

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Applied, ignored or set aside now.
    Settled(Outcome),
    /// Settled by an earlier delivery: nothing changed.
    Duplicate(EventState),
}

/// What the service needs beyond the context: the cipher new license keys
/// are sealed with, and the brand emails speak with.
pub struct Seller<'a> {
    pub ctx: Ctx<'a>,
    pub cipher: &'a DataCipher,
    pub brand: &'a Brand,
}

/// Reads a verified body of `provider`.
pub fn read(provider: Provider, body: &[u8]) -> Result<ProviderEvent, ReadError> {
    match provider {
        Provider::Stripe => stripe::read(body),
        Provider::Paddle => paddle::read(body),
    }
}

/// Stores a verified, read event (once by its id) and applies it unless an
/// earlier delivery settled it. An `Err` is a failure inside Licensor: the
/// provider is answered 5xx and retries.
pub async fn receive(
    seller: &Seller<'_>,
    event: &ProviderEvent,
    body: &str,
) -> anyhow::Result<Receipt> {
    let ctx = &seller.ctx;
    let new = payments::record_event(
        ctx.db.pool(),
        event.provider,
        &event.id,
        &event.kind,
        body,
        ctx.clock.now(),
    )
    .await
    .context("storing the provider event")?;
    if !new {
        tracing::info!(provider = %event.provider, event_id = %event.id, "provider event delivered again");
    }
    settle(seller, event).await
}

/// Applies a stored event that is still `received`.
async fn settle(seller: &Seller<'_>, event: &ProviderEvent) -> anyhow::Result<Receipt> {
    let ctx = &seller.ctx;
    let mut tx = ctx.db.begin_write().await?;
    let Some(row) = payments::lock_event(&mut tx, event.provider, &event.id).await? else {
        tx.rollback().await?;
        anyhow::bail!("provider event {} vanished before it was applied", event.id);
    };
    if row.state != EventState::Received {
        tx.rollback().await?;
        return Ok(Receipt::Duplicate(row.state));
    }
    let outcome = match apply::apply(seller, &mut tx, event).await {
        Ok(outcome) => outcome,
        Err(apply::Refusal::Failed(e)) => {
            tx.rollback().await.ok();
            return Err(e.context(format!("applying {} {}", event.provider, event.id)));
        }
        Err(apply::Refusal::NeedsAttention(detail)) => {
            // What was written before the refusal goes; the event stays.
            tx.rollback().await?;
            return set_aside(seller, event, detail).await;
        }
    };
    payments::settle_event(
        &mut tx,
        event.provider,
        &event.id,
        outcome.state,
        &outcome.detail,
        outcome.license_id.as_deref(),
        ctx.clock.now(),
    )
    .await?;
    tx.commit().await.context("committing the provider event")?;
    log(event, &outcome);
    Ok(Receipt::Settled(outcome))
}

/// Keeps an event that could not be matched, for the console.
async fn set_aside(
    seller: &Seller<'_>,
    event: &ProviderEvent,
    detail: String,
) -> anyhow::Result<Receipt> {
    let ctx = &seller.ctx;
    let mut tx = ctx.db.begin_write().await?;
    let still_received = payments::lock_event(&mut tx, event.provider, &event.id)
        .await?
        .is_some_and(|row| row.state == EventState::Received);
    if !still_received {
        tx.rollback().await?;
        return Ok(Receipt::Duplicate(EventState::NeedsAttention));
    }
    let outcome = Outcome::needs_attention(detail);
    payments::settle_event(
        &mut tx,
        event.provider,
        &event.id,
        outcome.state,
        &outcome.detail,
        None,
        ctx.clock.now(),
    )
    .await?;
    tx.commit()
        .await
        .context("setting the provider event aside")?;
    log(event, &outcome);
    Ok(Receipt::Settled(outcome))
}

fn log(event: &ProviderEvent, outcome: &Outcome) {
    match outcome.state {
        EventState::NeedsAttention => tracing::warn!(
            provider = %event.provider, event_id = %event.id, event_type = %event.kind,
            detail = %outcome.detail, "provider event needs attention"
        ),
        state => tracing::info!(
            provider = %event.provider, event_id = %event.id, event_type = %event.kind,
            state = %state, license_id = outcome.license_id.as_deref().unwrap_or("-"),
            detail = %outcome.detail, "provider event settled"
        ),
    }
}

/// Why a retry could not run.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no such provider event")]
    NotFound,
    #[error("the event is {0}; only one that needs attention is retried")]
    NotWaiting(EventState),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Applies an event set aside, again (after the vendor added the offer of
/// its price, say): it is applied, ignored, or set aside with the new
/// reason.
pub async fn retry(
    seller: &Seller<'_>,
    provider: Provider,
    event_id: &str,
) -> Result<Receipt, RetryError> {
    let ctx = &seller.ctx;
    let row = payments::find_event(ctx.db.pool(), provider, event_id)
        .await
        .context("reading the provider event")?
        .ok_or(RetryError::NotFound)?;
    if row.state != EventState::NeedsAttention {
        return Err(RetryError::NotWaiting(row.state));
    }
    let event = read(provider, row.body.as_bytes())
        .map_err(|e| anyhow::anyhow!("the stored event no longer reads: {e}"))?;
    let mut tx = ctx.db.begin_write().await.context("beginning the retry")?;
    payments::settle_event(
        &mut tx,
        provider,
        event_id,
        EventState::Received,
        "",
        None,
        ctx.clock.now(),
    )
    .await
    .context("reopening the provider event")?;
    tx.commit().await.context("reopening the provider event")?;
    tracing::info!(provider = %provider, event_id, "provider event retried");
    Ok(settle(seller, &event).await?)
}

/// The events waiting for the vendor, oldest first.
pub async fn needing_attention(ctx: &Ctx<'_>) -> anyhow::Result<Vec<EventRow>> {
    Ok(payments::events_in_state(ctx.db.pool(), EventState::NeedsAttention, 500).await?)
}

/// How a license is paid for, for its page: each subscription's provider,
/// its paid period's end and whether it was canceled.
#[derive(Debug, Clone)]
pub struct Billing {
    pub provider: String,
    pub period_end: Option<crate::domain::time::Timestamp>,
    pub canceled: bool,
}

pub async fn billing_of(ctx: &Ctx<'_>, license_id: &str) -> anyhow::Result<Vec<Billing>> {
    let rows = payments::subscriptions_of_license(ctx.db.pool(), license_id).await?;
    Ok(rows
        .into_iter()
        .map(|(provider, _, period_end, canceled_at)| Billing {
            provider,
            period_end: period_end.map(crate::domain::time::Timestamp::from_unix),
            canceled: canceled_at.is_some(),
        })
        .collect())
}

/// A license's provider events, newest first (at most 200): what paid for
/// it, renewed it, canceled or refunded it.
pub async fn events_of_license(
    db: &crate::store::Db,
    license_id: &str,
) -> anyhow::Result<Vec<EventRow>> {
    Ok(payments::events_of_license(db.pool(), license_id).await?)
}

/// Whether anything of this product can be bought now.
pub async fn product_on_sale(ctx: &Ctx<'_>, product_id: &str) -> anyhow::Result<bool> {
    Ok(crate::store::offers::product_on_sale(ctx.db.pool(), product_id).await?)
}
