//! The console's scale: customers (an organization and its owner each) and
//! audit events over the past year, in large multi-row transactions.

use anyhow::Context;

use crate::domain::id::new_id;
use crate::services::context::Ctx;
use crate::store::seed::{self, SeedCustomer, SeedEvent};

/// Customers per transaction.
const CUSTOMERS_PER_TX: usize = 20_000;
/// Events per transaction.
const EVENTS_PER_TX: usize = 50_000;

/// A password hash no password matches (seeded customers do not sign in).
const NO_PASSWORD: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2VlZGVkLW5vLXNpZ24taW4$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Customers, signed up over the past 400 days (the dashboard's funnel
/// reads the last 30 of them).
pub(super) async fn customers(ctx: &Ctx<'_>, count: usize) -> anyhow::Result<Vec<SeedCustomer>> {
    let now = ctx.clock.now();
    let mut all = Vec::with_capacity(count);
    let mut done = 0;
    while done < count {
        let n = CUSTOMERS_PER_TX.min(count - done);
        let batch: Vec<SeedCustomer> = (done..done + n)
            .map(|i| SeedCustomer {
                organization_id: new_id(),
                organization_name: format!("Customer {i} Ltd"),
                user_id: new_id(),
                email: format!("customer{i}@example.com"),
                // Spread over the 400 days, not in order of `i`.
                created_at: now
                    .plus_secs(-(i64::try_from(i).unwrap_or(0) * 97 % (400 * 86_400)))
                    .unix(),
            })
            .collect();
        let mut tx = ctx.db.begin_write().await?;
        seed::insert_customers(&mut tx, &batch, NO_PASSWORD)
            .await
            .context("inserting customers")?;
        tx.commit().await.context("committing customers")?;
        all.extend(batch);
        done += n;
    }
    Ok(all)
}

/// What the seeded events are: kinds with who does them.
const KINDS: [(&str, &str); 8] = [
    ("license.activated", "license_key"),
    ("license.activated", "license_key"),
    ("license.deactivated", "license_key"),
    ("license.updated", "api_token"),
    ("license.renewed", "api_token"),
    ("license.suspended", "staff"),
    ("license.email_resent", "staff"),
    ("license.expiring", "system"),
];

/// A small deterministic generator (xorshift64*): the same database each run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

pub(super) async fn events(
    ctx: &Ctx<'_>,
    customers: &[SeedCustomer],
    license_ids: &[String],
    count: usize,
) -> anyhow::Result<()> {
    if count == 0 || license_ids.is_empty() {
        return Ok(());
    }
    let now = ctx.clock.now().unix();
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let staff_id = new_id();
    let mut done = 0;
    while done < count {
        let n = EVENTS_PER_TX.min(count - done);
        let batch: Vec<SeedEvent> = (0..n)
            .map(|_| {
                let l = dice.below(license_ids.len());
                let customer = customers.get(l % customers.len().max(1));
                let (kind, actor_kind) = KINDS[dice.below(KINDS.len())];
                let actor_id = match actor_kind {
                    "staff" => Some(staff_id.clone()),
                    "api_token" => Some("seed-token".to_owned()),
                    _ => None,
                };
                let ago = i64::try_from(dice.below(365 * 86_400)).unwrap_or(0);
                SeedEvent {
                    id: new_id(),
                    occurred_at: now - ago,
                    kind,
                    actor_kind,
                    actor_id,
                    organization_id: customer.map(|c| c.organization_id.clone()),
                    user_id: None,
                    license_id: Some(license_ids[l].clone()),
                    data: r#"{"status":{"before":"active","after":"suspended"}}"#.to_owned(),
                }
            })
            .collect();
        let mut tx = ctx.db.begin_write().await?;
        seed::insert_events(&mut tx, &batch)
            .await
            .context("inserting events")?;
        tx.commit().await.context("committing events")?;
        done += n;
    }
    Ok(())
}
