//! Growing delays after consecutive failed sign-ins of one account, kept
//! in the database so that every instance enforces the same delay: guesses
//! spread over N instances wait as long as guesses sent to one. Unknown
//! accounts are throttled exactly like known ones (the key is the address
//! as typed), and no address is stored: only its SHA-256.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::store::{Db, sign_in_failures};

/// Failures allowed before the delays start.
pub const FREE_FAILURES: i64 = 3;
/// The longest delay between sign-in attempts of one account.
pub const MAX_DELAY_SECS: i64 = 15 * 60;

/// The delay after `failures` consecutive failures: none for the first
/// [`FREE_FAILURES`] - 1, then 1 s, doubling up to [`MAX_DELAY_SECS`].
pub fn delay_secs(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = u32::try_from(failures - FREE_FAILURES).unwrap_or(u32::MAX);
    1i64.checked_shl(doublings)
        .filter(|d| *d > 0)
        .unwrap_or(MAX_DELAY_SECS)
        .min(MAX_DELAY_SECS)
}

/// The stored key of an account: SHA-256 of the trimmed, lower-cased
/// address, in hex.
fn account_key(account: &str) -> String {
    Sha256::digest(account.trim().to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Wall-clock milliseconds: the delays are real time on every instance,
/// as the per-instance limits beside them are.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How long the account must still wait before its next attempt, if at all
/// (whole seconds, rounded up).
pub async fn wait(db: &Db, account: &str) -> anyhow::Result<Option<u64>> {
    let until = sign_in_failures::locked_until(db.pool(), &account_key(account))
        .await
        .context("reading the account's failed sign-ins")?;
    let now = now_ms();
    Ok(until
        .filter(|until| *until > now)
        .map(|until| u64::try_from((until - now + 999) / 1000).unwrap_or(1)))
}

/// A failed attempt (a wrong password or second-factor code): after
/// [`FREE_FAILURES`] in a row each attempt waits twice as long as the one
/// before. Returns the failures in a row.
pub async fn failed(db: &Db, account: &str) -> anyhow::Result<i64> {
    let key = account_key(account);
    let now = now_ms();
    let forget_before = now - MAX_DELAY_SECS * 1000;
    let mut tx = db.begin_write().await?;
    let failures = sign_in_failures::add_failure(&mut tx, &key, now, forget_before)
        .await
        .context("counting a failed sign-in")?;
    let delay = delay_secs(failures);
    if delay > 0 {
        sign_in_failures::lock_until(&mut tx, &key, now + delay * 1000)
            .await
            .context("delaying the account's next sign-in")?;
    }
    tx.commit().await.context("committing a failed sign-in")?;
    Ok(failures)
}

/// A successful sign-in clears the account's failures.
pub async fn succeeded(db: &Db, account: &str) -> anyhow::Result<()> {
    sign_in_failures::clear(db.pool(), &account_key(account))
        .await
        .context("clearing the account's failed sign-ins")
}

/// Forgets failures whose delay ran out [`MAX_DELAY_SECS`] ago.
pub async fn purge(db: &Db) -> anyhow::Result<u64> {
    sign_in_failures::purge(db.pool(), now_ms() - MAX_DELAY_SECS * 1000)
        .await
        .context("purging old failed sign-ins")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_at_the_third_failure_and_double_to_fifteen_minutes() {
        let delays: Vec<i64> = (1..=16).map(delay_secs).collect();
        assert_eq!(
            delays,
            [
                0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900
            ]
        );
        assert_eq!(delay_secs(i64::MAX), MAX_DELAY_SECS);
        assert_eq!(delay_secs(70), MAX_DELAY_SECS);
    }

    #[test]
    fn the_key_is_the_address_as_typed_folded_and_hashed() {
        assert_eq!(
            account_key(" Victim@Example.com"),
            account_key("victim@example.com")
        );
        assert_ne!(
            account_key("victim@example.com"),
            account_key("other@example.com")
        );
        assert!(!account_key("victim@example.com").contains("victim"));
    }
}
