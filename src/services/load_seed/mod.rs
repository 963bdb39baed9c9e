//! Seeds a database for a load test (`licensor seed`): a product, a
//! license type, a write API token and N licenses with one active machine
//! each, in large transactions (issuing them one by one through the API
//! would take a write transaction, an event and an email each). The keys
//! and fingerprints go to a file for the load tool to pick from.

use std::io::Write;

use anyhow::Context;

use crate::domain::id::new_id;
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::services::api_tokens::{self, Scope};
use crate::services::catalog::{self, NewLicenseTypeInput, NewProductInput};
use crate::services::context::Ctx;
use crate::services::licensing::new_sealed_key;
use crate::store::Tx;
use crate::store::licenses::{self, NewLicense};
use crate::store::machines::{self, NewMachine};

mod console_seed;

/// Licenses per transaction.
const BATCH: usize = 2_000;

/// What a load run needs to provision more licenses through the API.
#[derive(Debug)]
pub struct Seeded {
    pub product_code: String,
    pub license_type_id: String,
    pub api_token: String,
    pub licenses: usize,
    pub first_license_machines: u32,
}

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub licenses: usize,
    /// Live machines on the first license (the others have one each).
    pub first_license_machines: u32,
    /// Customers (an organization and its owner each); the licenses are
    /// dealt out to them in turn. None: every license is assigned to
    /// `load@example.com`.
    pub customers: usize,
    /// Audit events about the licenses and customers, over the past year.
    pub events: usize,
}

/// Seeds licenses of a new product `code`, each with one active machine
/// but the first, which has as many as the plan says; writes
/// `key fingerprint` lines to `keys_out` (the first license's first).
pub async fn seed(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    code: &str,
    plan: Plan,
    keys_out: &mut impl Write,
) -> anyhow::Result<Seeded> {
    let count = plan.licenses;
    let product = catalog::create_product(
        ctx,
        &NewProductInput {
            code: code.to_owned(),
            name: format!("Load test {code}"),
            description: "Seeded by `licensor seed` for a load test.".to_owned(),
            activation_instructions: "Activate with the key.".to_owned(),
            download_url: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the product: {e}"))?;
    let (license_type, _) = catalog::create_license_type(
        ctx,
        &NewLicenseTypeInput {
            product_id: product.id.clone(),
            name: "Load".to_owned(),
            duration_days: Some(3_650),
            max_machines: 100_000,
            floating: false,
            heartbeat_window_secs: None,
            grace_days: 0,
            self_service_trial: false,
            customer_may_deactivate: true,
            deactivation_limit: None,
            deactivation_period_days: None,
            expiry_from_first_activation: false,
            offline_checkin_days: 30,
            entitlements: vec!["pro".to_owned()],
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the license type: {e}"))?;
    let (_, token) = api_tokens::create(ctx, &format!("load test {code}"), Scope::Write)
        .await
        .map_err(|e| anyhow::anyhow!("creating the API token: {e}"))?;

    let now = ctx.clock.now();
    let expires_at = Some(now.plus_days(3_650));
    let customers = console_seed::customers(ctx, plan.customers).await?;
    let mut license_ids = Vec::with_capacity(if plan.events > 0 { count } else { 0 });
    let mut first_license = None;
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let mut lines = String::with_capacity(n * 64);
        let mut tx = ctx.db.begin_write().await?;
        for i in done..done + n {
            let (id, key, sealed) = new_sealed_key(cipher)?;
            licenses::insert(
                &mut tx,
                &NewLicense {
                    id: &id,
                    key_digest: &key.digest(),
                    key_ciphertext: &sealed,
                    key_last4: &key.last4(),
                    product_id: &product.id,
                    license_type_id: &license_type.id,
                    organization_id: customers
                        .get(i % customers.len().max(1))
                        .map(|c| c.organization_id.as_str()),
                    assigned_email: customers.is_empty().then_some("load@example.com"),
                    is_trial: false,
                    max_machines: if i == 0 { 100_000 } else { 1_000 },
                    issued_at: now,
                    expires_at,
                },
            )
            .await
            .context("inserting a license")?;
            let fingerprint = format!("load-{code}-{i}");
            seat_machine(&mut tx, &id, &fingerprint, now).await?;
            if i == 0 {
                first_license = Some(id.clone());
            }
            if plan.events > 0 {
                license_ids.push(id.to_string());
            }
            lines.push_str(key.canonical());
            lines.push(' ');
            lines.push_str(&fingerprint);
            lines.push('\n');
        }
        tx.commit().await.context("committing a batch")?;
        keys_out
            .write_all(lines.as_bytes())
            .context("writing the keys file")?;
        done += n;
    }
    keys_out.flush().context("writing the keys file")?;
    if let Some(id) = first_license {
        let more = plan.first_license_machines.saturating_sub(1) as usize;
        let mut seated = 0;
        while seated < more {
            let n = BATCH.min(more - seated);
            let mut tx = ctx.db.begin_write().await?;
            for j in seated..seated + n {
                seat_machine(&mut tx, &id, &format!("load-{code}-0-{j}"), now).await?;
            }
            tx.commit().await.context("committing a batch")?;
            seated += n;
        }
    }
    console_seed::events(ctx, &customers, &license_ids, plan.events).await?;
    tracing::info!(licenses = count, product = code, "seeded for a load test");
    Ok(Seeded {
        product_code: product.code,
        license_type_id: license_type.id,
        api_token: token.expose().to_owned(),
        licenses: count,
        first_license_machines: plan.first_license_machines,
    })
}

/// A live machine on the license, in its seat.
async fn seat_machine(
    tx: &mut Tx,
    license_id: &str,
    fingerprint: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    machines::insert(
        tx,
        &NewMachine {
            id: &new_id(),
            license_id,
            fingerprint,
            name: Some("load"),
            platform: None,
            ip: None,
        },
        now,
    )
    .await
    .context("inserting a machine")?;
    licenses::take_seat(tx, license_id, now, None)
        .await
        .context("taking the seat")?
        .context("the license had no free seat")?;
    Ok(())
}
