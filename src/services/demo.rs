//! `licensor serve --demo`: a demo product and a self-service trial, so a
//! new user can walk the whole journey at once. Idempotent.

use anyhow::Context;
use serde_json::json;

use crate::clock::Clock;
use crate::domain::audit::{Actor, EventKind};
use crate::domain::id::new_id;
use crate::store::Db;
use crate::store::events::{self, NewEvent};
use crate::store::license_types::{self, NewLicenseType};
use crate::store::products::{self, NewProduct};

pub const DEMO_PRODUCT_CODE: &str = "demo-app";
pub const DEMO_TRIAL_NAME: &str = "Trial";

/// Seeds the demo catalogue; returns whether anything was created.
#[tracing::instrument(skip_all)]
pub async fn seed(db: &Db, clock: &dyn Clock) -> anyhow::Result<bool> {
    let now = clock.now();
    let actor = Actor::System;
    let mut tx = db.begin_write().await.context("starting the demo seed")?;
    let (product_id, product_new) = products::insert_if_absent(
        &mut tx,
        &NewProduct {
            id: &new_id(),
            code: DEMO_PRODUCT_CODE,
            name: "Demo App",
            description: "A sample desktop application to try the licensing journey with.",
            activation_instructions: "Demo App stands in for your own application: there is \
                nothing to install. Your license page shows the commands that activate a machine \
                through the API, exactly as an application does.",
            download_url: None,
        },
        now,
    )
    .await
    .context("seeding the demo product")?;
    if product_new {
        let mut event = NewEvent::new(EventKind::ProductCreated, &actor);
        event.data = json!({ "product_id": product_id, "code": DEMO_PRODUCT_CODE, "demo": true });
        events::insert(&mut tx, now, &event).await?;
    }
    let type_id = new_id();
    let type_new = license_types::insert_if_absent(
        &mut tx,
        &NewLicenseType {
            id: &type_id,
            product_id: &product_id,
            name: DEMO_TRIAL_NAME,
            duration_days: Some(14),
            max_machines: 2,
            floating: false,
            heartbeat_window_secs: None,
            grace_days: 0,
            self_service_trial: true,
            customer_may_deactivate: true,
            deactivation_limit: Some(3),
            deactivation_period_days: Some(30),
            expiry_from_first_activation: false,
            offline_checkin_days: 7,
        },
        now,
    )
    .await
    .context("seeding the demo trial type")?;
    if type_new {
        let mut event = NewEvent::new(EventKind::LicenseTypeCreated, &actor);
        event.data = json!({ "license_type_id": type_id, "product_id": product_id, "demo": true });
        events::insert(&mut tx, now, &event).await?;
    }
    tx.commit().await.context("committing the demo seed")?;
    let created = product_new || type_new;
    if created {
        tracing::info!("seeded the demo product `{DEMO_PRODUCT_CODE}` and its trial");
    }
    Ok(created)
}
