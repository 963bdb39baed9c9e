//! Enqueues messages in the outbox, inside the caller's transaction: the
//! message exists if and only if the change that caused it committed.

use anyhow::Context;

use crate::domain::id::new_id;
use crate::domain::time::Timestamp;
use crate::mail::templates::EmailTemplate;
use crate::services::context::Brand;
use crate::store::Tx;
use crate::store::outbox::{self, NewMessage};

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
        .email(to, format!("<{id}@{host}>"))
        .with_context(|| format!("rendering the {topic} email"))?;
    let payload = serde_json::to_string(&email).context("serializing the email")?;
    outbox::insert(
        tx,
        &NewMessage {
            id: &id,
            channel: "email",
            topic,
            recipient: to,
            organization_id: about.organization_id,
            license_id: about.license_id,
            payload: &payload,
        },
        now,
    )
    .await
    .with_context(|| format!("enqueuing the {topic} email"))
}
