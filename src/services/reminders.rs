//! Expiry reminders: a sweep that enqueues each notice once per license per
//! expiry date, whatever the number of instances or restarts.
//!
//! The days before expiry (`expiry_notice_days`, 30, 7 and 1 by default)
//! cut the time before an expiry into windows: `(7, 30]` days, `(1, 7]`,
//! `(0, 1]`. A license in a window gets that window's notice once; a window
//! that opened before the license was issued is skipped (a 14-day trial
//! gets the 7- and 1-day notices, not a 30-day one on its first day). After
//! the expiry it gets one "expired" notice, within a week. Once means a
//! unique key in `notices` (license, kind, expiry date): two sweeps racing
//! for one notice both insert, one wins, and only the winner's transaction
//! holds the email. A renewal moves the expiry date, so the new date's
//! notices go out in their turn.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::id::LicenseId;
use crate::domain::time::Timestamp;
use crate::mail::templates::{ExpiryNotice, LicenseExpired};
use crate::services::context::{Brand, Ctx};
use crate::services::licensing::{self, LicenseView, LicensingError};
use crate::services::notify::{self, Audience};
use crate::store::notices;

/// Expired notices go out only this long after the expiry (a first start
/// does not mail every license that expired years ago).
const EXPIRED_NOTICE_WITHIN_DAYS: i64 = 7;

/// What one sweep enqueued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Notices claimed (one per license and window).
    pub notices: usize,
    /// Emails enqueued for them (one per recipient).
    pub emails: usize,
}

/// Which notice a license gets: before its expiry (one per window, named
/// by the window's days), or once it has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    Expiring { days: i64 },
    Expired,
}

impl Notice {
    /// The name the notice is stored under (and the audit event shows).
    fn name(self) -> String {
        match self {
            Notice::Expiring { days } => format!("expiring_{days}"),
            Notice::Expired => "expired".to_owned(),
        }
    }
}

/// One sweep over every window, at most `batch` licenses per window.
pub async fn sweep(
    ctx: &Ctx<'_>,
    brand: &Brand,
    days_before: &[i64],
    batch: i64,
) -> Result<Swept, LicensingError> {
    let now = ctx.clock.now();
    let mut days: Vec<i64> = days_before.iter().copied().filter(|d| *d > 0).collect();
    days.sort_unstable();
    days.dedup();
    let mut swept = Swept::default();
    for (i, &d) in days.iter().enumerate() {
        let tighter = if i == 0 { 0 } else { days[i - 1] };
        let notice = Notice::Expiring { days: d };
        let due = notices::due(
            ctx.db.pool(),
            &notice.name(),
            now.plus_days(tighter),
            now.plus_days(d),
            d * 86_400,
            batch,
        )
        .await?;
        for (license_id, expires_at) in due {
            send(
                ctx,
                brand,
                notice,
                &license_id,
                Timestamp::from_unix(expires_at),
                &mut swept,
            )
            .await?;
        }
    }
    let due = notices::due(
        ctx.db.pool(),
        &Notice::Expired.name(),
        now.plus_days(-EXPIRED_NOTICE_WITHIN_DAYS),
        now,
        0,
        batch,
    )
    .await?;
    for (license_id, expires_at) in due {
        send(
            ctx,
            brand,
            Notice::Expired,
            &license_id,
            Timestamp::from_unix(expires_at),
            &mut swept,
        )
        .await?;
    }
    Ok(swept)
}

/// Claims one notice and, when this sweep won it, enqueues its emails and
/// an audit event in the same transaction.
async fn send(
    ctx: &Ctx<'_>,
    brand: &Brand,
    notice: Notice,
    license_id: &LicenseId,
    expires_at: Timestamp,
    swept: &mut Swept,
) -> Result<(), LicensingError> {
    let kind = notice.name();
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin_write().await?;
    if !notices::claim(&mut tx, license_id, &kind, expires_at, now).await? {
        // Another sweep sent it; dropping the transaction rolls it back.
        return Ok(());
    }
    let license = licensing::view_in_tx(&mut tx, license_id).await?;
    let (emails, event) = match notice {
        Notice::Expired => (
            expired_emails(&mut tx, brand, &license, now).await?,
            EventKind::LicenseExpired,
        ),
        Notice::Expiring { .. } => (
            expiring_emails(&mut tx, brand, &license, now).await?,
            EventKind::LicenseExpiring,
        ),
    };
    licensing::record(
        ctx,
        &mut tx,
        event,
        &license,
        json!({ "notice": kind, "expires_at": expires_at.unix(), "emails": emails }),
    )
    .await?;
    tx.commit().await.context("committing the notice")?;
    tracing::info!(license_id = %license_id, notice = kind, emails, "expiry notice");
    swept.notices += 1;
    swept.emails += emails;
    Ok(())
}

/// "in 12 days", "within a day": when a license expires, seen from now.
pub fn when(expires_at: Timestamp, now: Timestamp) -> String {
    let secs = expires_at.unix() - now.unix();
    if secs <= 86_400 {
        return "within a day".to_owned();
    }
    format!("in {} days", (secs + 86_399).div_euclid(86_400))
}

async fn expiring_emails(
    tx: &mut crate::store::Tx,
    brand: &Brand,
    license: &LicenseView,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let expires_at = license.expires_at.unwrap_or(now);
    let link = brand.license_link(&license.id);
    notify::email_organization(
        tx,
        brand,
        "expiry_notice",
        license.about(),
        Audience::Reminders,
        now,
        |r| ExpiryNotice {
            vendor_name: brand.vendor_name.clone(),
            license: license.summary(),
            when: when(expires_at, now),
            grace_days: license.grace_days,
            link: link.clone(),
            renew_link: brand.renew_link(&license.id),
            unsubscribe_link: brand.unsubscribe_link(&r.id),
        },
    )
    .await
}

async fn expired_emails(
    tx: &mut crate::store::Tx,
    brand: &Brand,
    license: &LicenseView,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let expires_at = license.expires_at.unwrap_or(now);
    let link = brand.license_link(&license.id);
    notify::email_organization(
        tx,
        brand,
        "license_expired",
        license.about(),
        Audience::Reminders,
        now,
        |r| LicenseExpired {
            vendor_name: brand.vendor_name.clone(),
            license: license.summary(),
            grace_days: license.grace_days,
            grace_ends: expires_at.plus_days(license.grace_days).to_date_string(),
            link: link.clone(),
            renew_link: brand.renew_link(&license.id),
            unsubscribe_link: brand.unsubscribe_link(&r.id),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_counts_started_days() {
        let now = Timestamp::from_unix(1_800_000_000);
        assert_eq!(when(now.plus_secs(3600), now), "within a day");
        assert_eq!(when(now.plus_days(1), now), "within a day");
        assert_eq!(when(now.plus_days(1).plus_secs(1), now), "in 2 days");
        assert_eq!(when(now.plus_days(7), now), "in 7 days");
        assert_eq!(when(now.plus_days(30), now), "in 30 days");
    }
}
