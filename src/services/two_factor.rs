//! Two-factor sign-in for any account, staff or customer: enrolment with
//! a QR code and ten recovery codes, the code asked after the password, a
//! code accepted once, and turning it off again.

use anyhow::Context;
use serde_json::json;

use crate::domain::audit::EventKind;
use crate::domain::two_factor::{
    self as totp, TotpSecret, is_totp_code, new_recovery_codes, recovery_digest,
};
use crate::secret::DataCipher;
use crate::services::context::Ctx;
use crate::store::events::{self, NewEvent};
use crate::store::two_factor as store;
use crate::store::{Db, Tx};

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("Two-factor sign-in is already on.")]
    AlreadyOn,
    #[error("Two-factor sign-in is not on.")]
    NotOn,
    #[error("Start again: scan the new QR code.")]
    NotStarted,
    #[error(
        "That code is not right, or was already used. Enter the current code from your app, or an unused recovery code."
    )]
    WrongCode,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for TwoFactorError {
    fn from(e: sqlx::Error) -> Self {
        TwoFactorError::Unexpected(e.into())
    }
}

/// What an authenticator app needs: shown while enrolling.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub secret_base32: String,
    pub uri: String,
    pub qr_svg: String,
}

/// An account's two-factor state, for its settings page.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    pub enabled: bool,
    pub recovery_codes_left: i64,
}

fn aad(user_id: &str) -> Vec<u8> {
    format!("two-factor:{user_id}").into_bytes()
}

fn now_secs(ctx: &Ctx<'_>) -> u64 {
    u64::try_from(ctx.clock.now().unix()).unwrap_or(0)
}

fn secret_of(cipher: &DataCipher, row: &store::TwoFactorRow) -> anyhow::Result<TotpSecret> {
    let plain = cipher
        .open(&row.secret_ciphertext, &aad(&row.user_id))
        .context("opening a TOTP secret")?;
    TotpSecret::from_bytes(&plain)
}

fn enrolment(secret: &TotpSecret, issuer: &str, account: &str) -> anyhow::Result<Enrolment> {
    let uri = secret.provisioning_uri(issuer, account);
    Ok(Enrolment {
        secret_base32: secret.base32(),
        qr_svg: totp::qr_svg(&uri)?,
        uri,
    })
}

pub async fn status(db: &Db, user_id: &str) -> Result<Status, TwoFactorError> {
    let enabled = store::is_enabled(db.pool(), user_id).await?;
    let recovery_codes_left = if enabled {
        store::unused_recovery_codes(db.pool(), user_id).await?
    } else {
        0
    };
    Ok(Status {
        enabled,
        recovery_codes_left,
    })
}

pub async fn is_enabled(db: &Db, user_id: &str) -> Result<bool, TwoFactorError> {
    Ok(store::is_enabled(db.pool(), user_id).await?)
}

/// Starts an enrolment with a new secret (replacing one not confirmed).
pub async fn start(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    user_id: &str,
    issuer: &str,
    account: &str,
) -> Result<Enrolment, TwoFactorError> {
    let secret = TotpSecret::generate()?;
    let sealed = cipher.seal(secret.bytes(), &aad(user_id))?;
    let mut tx = ctx.db.begin_write().await?;
    if !store::begin(&mut tx, user_id, &sealed, ctx.clock.now()).await? {
        return Err(TwoFactorError::AlreadyOn);
    }
    tx.commit().await.context("committing the enrolment")?;
    Ok(enrolment(&secret, issuer, account)?)
}

/// The enrolment waiting for its first code, shown again.
pub async fn pending(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    user_id: &str,
    issuer: &str,
    account: &str,
) -> Result<Enrolment, TwoFactorError> {
    match store::find(ctx.db.pool(), user_id).await? {
        Some(row) if row.enabled_at.is_none() => {
            Ok(enrolment(&secret_of(cipher, &row)?, issuer, account)?)
        }
        Some(_) => Err(TwoFactorError::AlreadyOn),
        None => Err(TwoFactorError::NotStarted),
    }
}

/// Confirms an enrolment with the app's first code: two-factor sign-in is
/// on, and the ten recovery codes are returned (shown once).
pub async fn confirm(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    user_id: &str,
    code: &str,
) -> Result<Vec<String>, TwoFactorError> {
    let row = match store::find(ctx.db.pool(), user_id).await? {
        Some(row) if row.enabled_at.is_none() => row,
        Some(_) => return Err(TwoFactorError::AlreadyOn),
        None => return Err(TwoFactorError::NotStarted),
    };
    let step = secret_of(cipher, &row)?
        .check(code, now_secs(ctx))?
        .ok_or(TwoFactorError::WrongCode)?;
    let codes = new_recovery_codes()?;
    let mut tx = ctx.db.begin_write().await?;
    if !store::enable(&mut tx, user_id, step_of(step), ctx.clock.now()).await? {
        return Err(TwoFactorError::AlreadyOn);
    }
    store::set_recovery_codes(&mut tx, user_id, &digests(&codes)).await?;
    record(
        ctx,
        &mut tx,
        EventKind::UserTwoFactorEnabled,
        user_id,
        json!({}),
    )
    .await?;
    tx.commit().await.context("committing two-factor sign-in")?;
    tracing::info!(user_id, "two-factor sign-in turned on");
    Ok(codes)
}

fn step_of(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

fn digests(codes: &[String]) -> Vec<String> {
    codes.iter().map(|c| recovery_digest(c)).collect()
}

/// Checks the second factor of a sign-in: a current code from the app
/// (each step accepted once) or an unused recovery code (then used up).
pub async fn verify(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    user_id: &str,
    code: &str,
) -> Result<(), TwoFactorError> {
    let Some(row) = store::find(ctx.db.pool(), user_id).await? else {
        return Err(TwoFactorError::NotOn);
    };
    if row.enabled_at.is_none() {
        return Err(TwoFactorError::NotOn);
    }
    let mut tx = ctx.db.begin_write().await?;
    if is_totp_code(code) {
        let step = secret_of(cipher, &row)?
            .check(code, now_secs(ctx))?
            .ok_or(TwoFactorError::WrongCode)?;
        if !store::use_step(&mut tx, user_id, step_of(step)).await? {
            return Err(TwoFactorError::WrongCode);
        }
    } else {
        let used =
            store::use_recovery_code(&mut tx, user_id, &recovery_digest(code), ctx.clock.now())
                .await?;
        if !used {
            return Err(TwoFactorError::WrongCode);
        }
        let left = store::unused_recovery_codes(ctx.db.pool(), user_id).await?;
        record(
            ctx,
            &mut tx,
            EventKind::UserRecoveryCodeUsed,
            user_id,
            json!({ "left": left.saturating_sub(1) }),
        )
        .await?;
    }
    tx.commit().await.context("committing the second factor")?;
    Ok(())
}

/// New recovery codes (the old ones stop working), after a current code.
pub async fn renew_recovery_codes(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    user_id: &str,
    code: &str,
) -> Result<Vec<String>, TwoFactorError> {
    verify(ctx, cipher, user_id, code).await?;
    let codes = new_recovery_codes()?;
    let mut tx = ctx.db.begin_write().await?;
    store::set_recovery_codes(&mut tx, user_id, &digests(&codes)).await?;
    record(
        ctx,
        &mut tx,
        EventKind::UserRecoveryCodesCreated,
        user_id,
        json!({}),
    )
    .await?;
    tx.commit().await.context("committing recovery codes")?;
    Ok(codes)
}

/// Turns two-factor sign-in off, after a current code or a recovery code.
pub async fn turn_off(
    ctx: &Ctx<'_>,
    cipher: &DataCipher,
    user_id: &str,
    code: &str,
) -> Result<(), TwoFactorError> {
    verify(ctx, cipher, user_id, code).await?;
    let mut tx = ctx.db.begin_write().await?;
    store::remove(&mut tx, user_id).await?;
    record(
        ctx,
        &mut tx,
        EventKind::UserTwoFactorDisabled,
        user_id,
        json!({}),
    )
    .await?;
    tx.commit()
        .await
        .context("committing two-factor sign-in off")?;
    tracing::info!(user_id, "two-factor sign-in turned off");
    Ok(())
}

async fn record(
    ctx: &Ctx<'_>,
    tx: &mut Tx,
    kind: EventKind,
    user_id: &str,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let mut event = NewEvent::new(kind, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.user_id = Some(user_id);
    event.data = data;
    events::insert(tx, ctx.clock.now(), &event)
        .await
        .with_context(|| format!("recording {kind}"))
}
