//! The CRM link: webhook endpoints and the events they receive, delivered
//! through the outbox and signed the Standard Webhooks way
//! (docs/webhooks.md), so existing receivers verify them.
//!
//! An event is written to the outbox in the transaction of the change that
//! causes it, once per enabled endpoint that wants it. Its `id` is fixed
//! then and travels as `webhook-id` on every attempt and every redelivery,
//! so a receiver de-duplicates by it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::domain::audit::EventKind;
use crate::domain::audit::WebhookEvent;
use crate::domain::id::{EndpointId, new_id};
use crate::domain::outbox::Channel;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::context::Ctx;
use crate::store::Tx;
use crate::store::events::{self, NewEvent};
use crate::store::outbox::{self, NewMessage};
use crate::store::webhooks;

pub use crate::store::webhooks::EndpointRow;

/// The prefix of a signing secret (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "Enter the full address of your endpoint, starting with https:// (or http://), without a user name or password in it."
    )]
    BadUrl,
    #[error("Choose at least one event to send.")]
    NoEvents,
    #[error("\"{0}\" is not an event Licensor sends.")]
    UnknownEvent(String),
    #[error("no such endpoint")]
    NotFound,
    #[error("This endpoint is disabled: enable it first, then send the test event.")]
    Disabled,
    #[error(
        "Not deleted: tick the box to confirm that the endpoint and its delivery log go for good."
    )]
    Unconfirmed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for WebhookError {
    fn from(e: sqlx::Error) -> Self {
        WebhookError::Unexpected(e.into())
    }
}

/// Checks an event filter: `*`, or known types.
pub fn parse_filter(types: &[String]) -> Result<String, WebhookError> {
    if types.iter().any(|t| t == "*") {
        return Ok("*".to_owned());
    }
    if types.is_empty() {
        return Err(WebhookError::NoEvents);
    }
    for t in types {
        if t.parse::<WebhookEvent>()
            .ok()
            .is_none_or(|e| e == WebhookEvent::Test)
        {
            return Err(WebhookError::UnknownEvent(t.clone()));
        }
    }
    Ok(types.join(","))
}

fn wants(filter: &str, event: WebhookEvent) -> bool {
    filter == "*" || filter.split(',').any(|t| t == event.as_str())
}

/// Creates an endpoint; returns its id and its signing secret, which is
/// shown to the admin this once (it stays sealed at rest for signing).
pub async fn create_endpoint(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    url: &str,
    event_filter: &str,
) -> Result<(String, Zeroizing<String>), WebhookError> {
    let parsed = url::Url::parse(url).map_err(|_| WebhookError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
        || url.len() > 500
    {
        return Err(WebhookError::BadUrl);
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(raw.as_mut()).map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    let secret = Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(raw.as_ref())));
    let id = new_id();
    let sealed = cipher.seal(secret.as_bytes(), id.as_bytes())?;
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    webhooks::insert(&mut tx, &id, parsed.as_str(), &sealed, event_filter, now).await?;
    audit(
        ctx,
        &mut tx,
        EventKind::WebhookCreated,
        &id,
        json!({ "url": parsed.as_str(), "events": event_filter }),
    )
    .await?;
    tx.commit().await.context("committing the endpoint")?;
    Ok((id, secret))
}

/// The signing secret of an endpoint, for the admin who just created it.
pub async fn secret_of(
    db: &crate::store::Db,
    cipher: &DataCipher,
    id: &str,
) -> Result<Zeroizing<String>, WebhookError> {
    let endpoint = webhooks::find(db.pool(), id)
        .await?
        .ok_or(WebhookError::NotFound)?;
    let secret = cipher.open(&endpoint.secret_ciphertext, endpoint.id.as_bytes())?;
    Ok(Zeroizing::new(
        String::from_utf8(secret.to_vec()).context("stored secret")?,
    ))
}

/// Queues a `webhook.test` event to one enabled endpoint, signed and
/// logged like any other, so an admin can check the receiving side.
pub async fn send_test(ctx: &Ctx<'_>, id: &EndpointId) -> Result<(), WebhookError> {
    let endpoint = webhooks::find(ctx.db.pool(), id)
        .await?
        .ok_or(WebhookError::NotFound)?;
    if endpoint.enabled == 0 {
        return Err(WebhookError::Disabled);
    }
    let test = EndpointRow {
        event_filter: "*".to_owned(),
        ..endpoint
    };
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    publish_to(
        &mut tx,
        std::slice::from_ref(&test),
        WebhookEvent::Test,
        (None, None),
        json!({ "message": "A test event sent from the console.", "endpoint_id": test.id }),
        now,
    )
    .await?;
    audit(
        ctx,
        &mut tx,
        EventKind::WebhookTestSent,
        &test.id,
        json!({}),
    )
    .await?;
    tx.commit().await.context("committing the test event")?;
    Ok(())
}

pub async fn set_enabled(
    ctx: &Ctx<'_>,
    id: &EndpointId,
    enabled: bool,
) -> Result<(), WebhookError> {
    let mut tx = ctx.db.begin_write().await?;
    if !webhooks::set_enabled(&mut tx, id, enabled).await? {
        return Err(WebhookError::NotFound);
    }
    let kind = if enabled {
        EventKind::WebhookEnabled
    } else {
        EventKind::WebhookDisabled
    };
    audit(ctx, &mut tx, kind, id, json!({})).await?;
    tx.commit().await.context("committing the endpoint")?;
    Ok(())
}

pub async fn delete(ctx: &Ctx<'_>, id: &EndpointId) -> Result<(), WebhookError> {
    let mut tx = ctx.db.begin_write().await?;
    if !webhooks::delete(&mut tx, id).await? {
        return Err(WebhookError::NotFound);
    }
    audit(ctx, &mut tx, EventKind::WebhookDeleted, id, json!({})).await?;
    tx.commit().await.context("committing the deletion")?;
    Ok(())
}

async fn audit(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    kind: EventKind,
    endpoint_id: &str,
    mut data: Value,
) -> anyhow::Result<()> {
    if let Some(map) = data.as_object_mut() {
        map.insert("endpoint_id".to_owned(), json!(endpoint_id));
        if let Some(reason) = &ctx.reason {
            map.insert("reason".to_owned(), json!(reason));
        }
    }
    let mut event = NewEvent::new(kind, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = data;
    events::insert(tx, ctx.clock.now(), &event)
        .await
        .with_context(|| format!("recording {kind}"))
}

/// Enqueues `event` for every enabled endpoint that wants it, inside
/// the caller's transaction. Returns how many deliveries were queued.
pub async fn publish(
    tx: &mut Tx,
    event: WebhookEvent,
    about: (Option<&str>, Option<&str>),
    data: Value,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let endpoints = webhooks::enabled(&mut **tx)
        .await
        .context("finding webhook endpoints")?;
    publish_to(tx, &endpoints, event, about, data, now).await
}

/// [`publish`] to endpoints the caller read before its transaction (so
/// that the read does not hold the write lock).
pub async fn publish_to(
    tx: &mut Tx,
    endpoints: &[EndpointRow],
    event: WebhookEvent,
    about: (Option<&str>, Option<&str>),
    data: Value,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let mut queued = 0;
    for endpoint in endpoints.iter().filter(|e| wants(&e.event_filter, event)) {
        let id = new_id();
        let payload = json!({
            "id": id,
            "type": event.as_str(),
            "timestamp": now.to_rfc3339(),
            "data": data,
        });
        outbox::insert(
            tx,
            &NewMessage {
                id: &id,
                channel: Channel::Webhook,
                topic: event.as_str(),
                recipient: &endpoint.url,
                webhook_endpoint_id: Some(&endpoint.id),
                organization_id: about.0,
                license_id: about.1,
                payload: &payload.to_string(),
            },
            now,
        )
        .await
        .context("enqueuing a webhook")?;
        queued += 1;
    }
    Ok(queued)
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the
/// secret's bytes (the base64 after `whsec_`).
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .context("the webhook secret is not base64")?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .map_err(|_| anyhow::anyhow!("the webhook secret is empty"))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// What one delivery attempt got back.
#[derive(Debug)]
pub struct Attempt {
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// Delivers webhooks over HTTPS (rustls with the ring provider and the
/// Mozilla roots), 10 seconds per attempt, no redirects followed.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    cipher: Arc<DataCipher>,
}

impl WebhookSender {
    pub fn new(cipher: Arc<DataCipher>) -> anyhow::Result<Self> {
        crate::tls::install_crypto_provider();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Licensor-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the webhook HTTP client")?;
        Ok(Self { client, cipher })
    }

    /// One attempt: POSTs the stored payload to the endpoint, signed now.
    pub async fn deliver(
        &self,
        pool: &sqlx::AnyPool,
        endpoint_id: &str,
        payload: &str,
        now: Timestamp,
    ) -> anyhow::Result<Attempt> {
        let Some(endpoint) = webhooks::find(pool, endpoint_id).await? else {
            anyhow::bail!("the endpoint was deleted");
        };
        if endpoint.enabled == 0 {
            anyhow::bail!("the endpoint is disabled");
        }
        let secret = self
            .cipher
            .open(&endpoint.secret_ciphertext, endpoint.id.as_bytes())?;
        let secret = Zeroizing::new(String::from_utf8(secret.to_vec()).context("stored secret")?);
        let id = serde_json::from_str::<Value>(payload)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .context("the stored webhook has no id")?;
        let timestamp = now.unix();
        let signature = signature(&secret, &id, timestamp, payload.as_bytes())?;
        let sent = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(payload.to_owned())
            .send()
            .await;
        Ok(match sent {
            Ok(res) if res.status().is_success() => Attempt {
                status: Some(res.status().as_u16()),
                error: None,
            },
            Ok(res) => Attempt {
                status: Some(res.status().as_u16()),
                error: Some(format!("the endpoint answered {}", res.status())),
            },
            Err(e) => Attempt {
                status: None,
                error: Some(format!("no answer: {e}")),
            },
        })
    }
}

/// Every endpoint, for the console's list.
pub async fn endpoints(db: &crate::store::Db) -> anyhow::Result<Vec<EndpointRow>> {
    Ok(webhooks::list(db.pool()).await?)
}

/// One endpoint.
pub async fn endpoint(
    db: &crate::store::Db,
    id: &EndpointId,
) -> anyhow::Result<Option<EndpointRow>> {
    Ok(webhooks::find(db.pool(), id).await?)
}

/// Sends a delivery of this endpoint again (a copy with the same
/// webhook-id when it was delivered). `None` when the endpoint has no such
/// delivery among its latest thousand.
pub async fn redeliver(
    ctx: &Ctx<'_>,
    endpoint_id: &EndpointId,
    delivery_id: &str,
    reason: &str,
) -> anyhow::Result<Option<crate::services::notify::Resent>> {
    let belongs = outbox::for_endpoint(ctx.db.pool(), endpoint_id, 1000)
        .await?
        .iter()
        .any(|d| d.id == delivery_id);
    if !belongs {
        return Ok(None);
    }
    crate::services::notify::resend(ctx, delivery_id, reason).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn filters_take_known_types_or_everything() {
        assert_eq!(parse_filter(&["*".to_owned()]).unwrap(), "*");
        assert_eq!(
            parse_filter(&["license.created".to_owned(), "license.revoked".to_owned()]).unwrap(),
            "license.created,license.revoked"
        );
        assert!(parse_filter(&[]).is_err());
        assert!(parse_filter(&["license.exploded".to_owned()]).is_err());
        assert!(wants("*", WebhookEvent::LicenseCreated));
        assert!(wants(
            "license.created,license.revoked",
            WebhookEvent::LicenseRevoked
        ));
        assert!(!wants("license.created", WebhookEvent::LicenseRevoked));
        assert!(parse_filter(&["webhook.test".to_owned()]).is_err());
    }
}
