//! Delivers the outbox. A message goes out at least once: it is marked sent
//! after the transport accepted it, so a crash between the two sends it
//! again, with the same Message-ID.

use std::time::Duration;

use crate::clock::SharedClock;
use crate::domain::outbox::Channel;
use crate::domain::time::Timestamp;
use crate::mail::{Email, Mailer};
use crate::services::webhooks::WebhookSender;
use crate::store::outbox::OutboxRow;
use crate::store::{Db, outbox};

/// Attempts before a message is dead.
pub const MAX_ATTEMPTS: i64 = 10;
/// How long a claimed message is hidden from other workers: renewed for
/// each message just before it is sent, so a slow batch never lets
/// another worker take a message that is being sent.
const LEASE_SECS: i64 = 60;

/// Who claims outbox messages: this process, as "<host> <listen address>
/// <start in ms>". A restarted server recognizes (by host and address)
/// and releases the claims of the process before it.
#[derive(Debug, Clone)]
pub struct Claimant {
    id: String,
    prefix: String,
}

impl Claimant {
    pub fn new(listen: std::net::SocketAddr, started: std::time::SystemTime) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned());
        let started_ms = started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let prefix = format!("{host} {listen} ");
        Self {
            id: format!("{prefix}{started_ms}"),
            prefix,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }
}
const BATCH: i64 = 20;

/// The wait before attempt `attempts + 1`: 30 s, doubling, at most 6 hours.
pub fn backoff_secs(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    30i64.saturating_mul(2i64.saturating_pow(exp)).min(6 * 3600)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// Sends one message: the outcome and, for a webhook, the HTTP status
/// the endpoint answered.
async fn attempt(
    row: &OutboxRow,
    db: &Db,
    mailer: &Mailer,
    webhooks: &WebhookSender,
    clock: &SharedClock,
) -> (anyhow::Result<()>, Option<i64>) {
    match row.channel {
        Channel::Email => match serde_json::from_str::<Email>(&row.payload) {
            Ok(email) => (mailer.send(&email).await, None),
            Err(e) => (
                Err(anyhow::anyhow!("the stored message is not an email: {e}")),
                None,
            ),
        },
        Channel::Webhook => {
            let Some(endpoint) = row.webhook_endpoint_id.as_deref() else {
                return (Err(anyhow::anyhow!("the webhook has no endpoint")), None);
            };
            match webhooks
                .deliver(db.pool(), endpoint, &row.payload, clock.now())
                .await
            {
                Ok(attempt) => {
                    let status_code = attempt.status.map(i64::from);
                    match attempt.error {
                        None => (Ok(()), status_code),
                        Some(e) => (Err(anyhow::anyhow!(e)), status_code),
                    }
                }
                Err(e) => (Err(e), None),
            }
        }
    }
}

/// One pass over the due messages.
pub async fn deliver_pass(
    db: &Db,
    claimant: &Claimant,
    mailer: &Mailer,
    webhooks: &WebhookSender,
    clock: &SharedClock,
    metrics: &crate::metrics::Metrics,
) -> anyhow::Result<Delivery> {
    let now = clock.now();
    let mut report = Delivery::default();
    for row in outbox::claim_due(db, now, BATCH, LEASE_SECS, claimant.as_str()).await? {
        let until = Timestamp::from_unix(clock.now().unix() + LEASE_SECS);
        if !outbox::renew_claim(db, &row.id, claimant.as_str(), until).await? {
            continue;
        }
        let (result, status_code) = attempt(&row, db, mailer, webhooks, clock).await;
        match result {
            Ok(()) => {
                outbox::mark_sent(db, &row.id, clock.now(), status_code).await?;
                tracing::info!(outbox_id = %row.id, topic = %row.topic, "message delivered");
                report.sent += 1;
                metrics.delivery(row.channel, "sent");
            }
            Err(e) => {
                let error = format!("{e:#}");
                let retry_at = (row.attempts < MAX_ATTEMPTS)
                    .then(|| Timestamp::from_unix(clock.now().unix() + backoff_secs(row.attempts)));
                outbox::mark_failed(db, &row.id, &error, retry_at, status_code).await?;
                if retry_at.is_some() {
                    tracing::warn!(outbox_id = %row.id, attempts = row.attempts, error, "delivery failed; will retry");
                    report.retrying += 1;
                    metrics.delivery(row.channel, "retry");
                } else {
                    tracing::error!(outbox_id = %row.id, attempts = row.attempts, error, "delivery failed for good");
                    report.dead += 1;
                    metrics.delivery(row.channel, "dead");
                }
            }
        }
    }
    Ok(report)
}

/// Runs [`deliver_pass`] every `every`.
pub async fn run(
    db: Db,
    claimant: Claimant,
    mailer: std::sync::Arc<Mailer>,
    webhooks: WebhookSender,
    clock: SharedClock,
    every: Duration,
    metrics: crate::metrics::Metrics,
) {
    match outbox::release_stale_claims(&db, claimant.as_str(), &claimant.prefix).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            released = n,
            "released the outbox claims of the previous process"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not release the previous process's outbox claims")
        }
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = deliver_pass(&db, &claimant, &mailer, &webhooks, &clock, &metrics).await {
            tracing::warn!(error = %format!("{e:#}"), "outbox pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_secs(1), 30);
        assert_eq!(backoff_secs(2), 60);
        assert_eq!(backoff_secs(5), 480);
        assert_eq!(backoff_secs(15), 6 * 3600);
        assert_eq!(backoff_secs(0), 30);
    }
}
