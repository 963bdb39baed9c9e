//! Enqueues messages in the outbox, inside the caller's transaction: the
//! message exists if and only if the change that caused it committed.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::id::new_id;
use crate::domain::outbox::{Channel, DeliveryStatus};
use crate::domain::time::Timestamp;
use crate::mail::Email;
use crate::mail::templates::EmailTemplate;
use crate::services::context::{Brand, Ctx};
use crate::store::Tx;
use crate::store::events::{self, NewEvent};
use crate::store::outbox::{self, NewMessage};
use crate::store::users::{self, Recipient};

/// Who a message is about, for the customer's history.
#[derive(Debug, Default, Clone, Copy)]
pub struct About<'a> {
    pub organization_id: Option<&'a str>,
    pub license_id: Option<&'a str>,
}

pub async fn enqueue_email(
    tx: &mut Tx,
    brand: &Brand,
    topic: &str,
    to: &str,
    template: &impl EmailTemplate,
    about: About<'_>,
    now: Timestamp,
) -> anyhow::Result<()> {
    let id = new_id();
    let host = brand.public_url.host_str().unwrap_or("localhost");
    let email = template
        .email(to, format!("<{id}@{host}>"), &brand.footer())
        .with_context(|| format!("rendering the {topic} email"))?;
    let payload = serde_json::to_string(&email).context("serializing the email")?;
    outbox::insert(
        tx,
        &NewMessage {
            id: &id,
            channel: Channel::Email,
            topic,
            recipient: to,
            webhook_endpoint_id: None,
            organization_id: about.organization_id,
            license_id: about.license_id,
            payload: &payload,
        },
        now,
    )
    .await
    .with_context(|| format!("enqueuing the {topic} email"))
}

/// Which members of an organization a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every verified member: security and transactional messages, which
    /// cannot be turned off.
    Everyone,
    /// Members who kept expiry reminders on.
    Reminders,
}

/// Enqueues one message per recipient in the license's organization, each
/// built for its recipient (reminders carry the recipient's own
/// unsubscribe link). Returns how many were enqueued; none when the license
/// has no organization yet.
pub async fn email_organization<T: EmailTemplate>(
    tx: &mut Tx,
    brand: &Brand,
    topic: &str,
    about: About<'_>,
    audience: Audience,
    now: Timestamp,
    build: impl Fn(&Recipient) -> T,
) -> anyhow::Result<usize> {
    let Some(org) = about.organization_id else {
        return Ok(0);
    };
    let recipients = users::recipients(&mut **tx, org, audience == Audience::Reminders)
        .await
        .context("finding the recipients")?;
    email_recipients(tx, brand, topic, about, &recipients, now, build).await
}

/// [`email_organization`] to recipients the caller read before its
/// transaction (so that the read does not hold the write lock).
pub async fn email_recipients<T: EmailTemplate>(
    tx: &mut Tx,
    brand: &Brand,
    topic: &str,
    about: About<'_>,
    recipients: &[Recipient],
    now: Timestamp,
    build: impl Fn(&Recipient) -> T,
) -> anyhow::Result<usize> {
    for recipient in recipients {
        enqueue_email(
            tx,
            brand,
            topic,
            &recipient.email,
            &build(recipient),
            about,
            now,
        )
        .await?;
    }
    Ok(recipients.len())
}

/// What a resend did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resent {
    /// A queued or dead message goes out again now, with fresh attempts
    /// (same Message-ID: it was never delivered, or is being retried).
    Requeued,
    /// A sent message was copied into a new one (its own Message-ID).
    Copied(String),
}

/// Sends a message again, for support: recorded in the audit log with the
/// staff member and their reason. `None` when there is no such message.
pub async fn resend(
    ctx: &Ctx<'_>,
    message_id: &str,
    reason: &str,
) -> anyhow::Result<Option<Resent>> {
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    let Some((status, payload)) = outbox::payload(&mut tx, message_id).await? else {
        return Ok(None);
    };
    let resent = if status == DeliveryStatus::Sent {
        let new_id = new_id();
        let payload = with_new_message_id(&payload, &new_id)?;
        outbox::copy(&mut tx, message_id, &new_id, &payload, now).await?;
        Resent::Copied(new_id)
    } else {
        outbox::requeue(&mut tx, message_id, now).await?;
        Resent::Requeued
    };
    let mut event = NewEvent::new(EventKind::OutboxResent, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({
        "message_id": message_id,
        "reason": reason,
        "copy": match &resent { Resent::Copied(id) => Some(id.as_str()), Resent::Requeued => None },
    });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the resend")?;
    tx.commit().await.context("committing the resend")?;
    Ok(Some(resent))
}

/// An email payload with a fresh Message-ID on the same host; other
/// payloads (webhooks) unchanged.
fn with_new_message_id(payload: &str, new_id: &str) -> anyhow::Result<String> {
    let Ok(mut email) = serde_json::from_str::<Email>(payload) else {
        return Ok(payload.to_owned());
    };
    let host = email
        .message_id
        .trim_matches(['<', '>'])
        .split_once('@')
        .map_or("localhost", |(_, host)| host)
        .to_owned();
    email.message_id = format!("<{new_id}@{host}>");
    serde_json::to_string(&email).context("serializing the email")
}
