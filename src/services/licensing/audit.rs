//! The audit event of a change to a license, and the CRM's copy of it.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::services::context::Ctx;
use crate::services::webhooks;
use crate::store::Tx;
use crate::store::events::{self, NewEvent};
use crate::store::webhooks::{self as store_webhooks, EndpointRow};

use super::view::LicenseView;

pub(crate) async fn record(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    kind: EventKind,
    license: &LicenseView,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let endpoints = store_webhooks::enabled(&mut **tx)
        .await
        .context("finding webhook endpoints")?;
    record_to(ctx, tx, &endpoints, kind, license, data).await
}

/// [`record`], the CRM's copy going to endpoints read before the
/// transaction.
pub(super) async fn record_to(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    endpoints: &[EndpointRow],
    kind: EventKind,
    license: &LicenseView,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let event = event_about(ctx, kind, license, data);
    events::insert(tx, ctx.clock.now(), &event)
        .await
        .with_context(|| format!("recording {kind}"))?;
    publish_event(ctx, tx, endpoints, &event, license).await
}

/// The audit event of a change to a license.
pub(super) fn event_about<'a>(
    ctx: &'a Ctx<'_>,
    kind: EventKind,
    license: &'a LicenseView,
    data: serde_json::Value,
) -> NewEvent<'a> {
    let mut event = NewEvent::new(kind, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.license_id = Some(&license.id);
    event.organization_id = license.organization_id.as_deref();
    event.data = data;
    if let (Some(reason), Some(map)) = (&ctx.reason, event.data.as_object_mut()) {
        map.entry("reason")
            .or_insert_with(|| serde_json::Value::String(reason.clone()));
    }
    event
}

/// The CRM hears of a recorded change in the same transaction.
pub(super) async fn publish_event(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    endpoints: &[EndpointRow],
    event: &NewEvent<'_>,
    license: &LicenseView,
) -> anyhow::Result<()> {
    let Some(webhook_event) = event.kind.webhook() else {
        return Ok(());
    };
    let mut details = event.data.clone();
    if let Some(map) = details.as_object_mut() {
        map.remove("before");
        map.remove("after");
    }
    webhooks::publish_to(
        tx,
        endpoints,
        webhook_event,
        (license.organization_id.as_deref(), Some(&license.id)),
        json!({ "license": license.webhook_data(), "details": details }),
        ctx.clock.now(),
    )
    .await?;
    Ok(())
}
