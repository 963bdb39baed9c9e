//! The signing key ring: create the first key, rotate, list, load.

use anyhow::{Context, bail};
use serde_json::json;

use crate::clock::Clock;
use crate::domain::audit::{Actor, EventKind};
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::signing::{KeyPair, KeyRing, PublicKeyEntry};
use crate::store::events::{self, NewEvent};
use crate::store::file_signatures::{self, SignedByRow};
use crate::store::signing_keys::{self, NewSigningKey, SigningKeyRow};
use crate::store::{Db, Tx};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("a signing key already exists; use `licensor keys rotate` to replace it")]
    AlreadyExists,
    #[error("no signing key has the id `{0}` (`licensor keys list` shows them)")]
    UnknownKey(String),
    #[error("key `{kid}` was already revoked at {at}")]
    AlreadyRevoked { kid: String, at: Timestamp },
    #[error("say why the key is revoked (--reason, at most {REASON_MAX} characters)")]
    ReasonRequired,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A key as `keys list` shows it.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub kid: String,
    pub active: bool,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
}

/// The longest reason a revocation keeps.
pub const REASON_MAX: usize = 500;

/// What `revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kid: String,
    pub at: Timestamp,
    /// The key made to sign in its place, when the revoked key was the
    /// signing one.
    pub replaced_by: Option<String>,
}

async fn insert_new_active(
    tx: &mut Tx,
    cipher: &DataCipher,
    actor: &Actor,
    now: Timestamp,
    replaced: Option<&str>,
) -> anyhow::Result<String> {
    let pair = KeyPair::generate()?;
    let sealed = cipher.seal(pair.secret_seed().as_ref(), pair.kid.as_bytes())?;
    signing_keys::insert_active(
        tx,
        &NewSigningKey {
            id: &pair.kid,
            public_key: &pair.public_key_bytes(),
            private_key_ciphertext: &sealed,
        },
        now,
    )
    .await
    .context("storing the signing key")?;
    let mut event = NewEvent::new(EventKind::SigningKeyCreated, actor);
    event.data = json!({ "kid": pair.kid, "replaces": replaced });
    events::insert(tx, now, &event)
        .await
        .context("recording the event")?;
    Ok(pair.kid)
}

/// Creates the first signing key; refuses when one exists.
pub async fn generate(
    db: &Db,
    cipher: &DataCipher,
    clock: &dyn Clock,
    actor: &Actor,
) -> Result<String, KeysError> {
    let now = clock.now();
    let mut tx = db.begin_write().await.context("starting the transaction")?;
    if signing_keys::any_exists(&mut tx)
        .await
        .context("reading keys")?
    {
        tx.rollback().await.context("ending the transaction")?;
        return Err(KeysError::AlreadyExists);
    }
    let kid = insert_new_active(&mut tx, cipher, actor, now, None).await?;
    tx.commit().await.context("committing the key")?;
    Ok(kid)
}

/// Makes a new key the signing one; the old stays published so every file
/// it signed still verifies. Returns (retired kid, new kid).
pub async fn rotate(
    db: &Db,
    cipher: &DataCipher,
    clock: &dyn Clock,
    actor: &Actor,
) -> anyhow::Result<(Option<String>, String)> {
    let now = clock.now();
    let mut tx = db.begin_write().await.context("starting the transaction")?;
    let retired = signing_keys::retire_active(&mut tx, now)
        .await
        .context("retiring the active key")?;
    let kid = insert_new_active(&mut tx, cipher, actor, now, retired.as_deref()).await?;
    tx.commit().await.context("committing the rotation")?;
    Ok((retired, kid))
}

/// Distrusts a key that leaked: it stays published, marked revoked, so
/// verifiers refuse what it signed. Revoking the signing key first makes a
/// new one sign in its place, in the same transaction.
pub async fn revoke(
    db: &Db,
    cipher: &DataCipher,
    clock: &dyn Clock,
    actor: &Actor,
    kid: &str,
    reason: &str,
) -> Result<Revocation, KeysError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX {
        return Err(KeysError::ReasonRequired);
    }
    let now = clock.now();
    let mut tx = db.begin_write().await.context("starting the transaction")?;
    let refused = match signing_keys::state(&mut tx, kid)
        .await
        .context("reading the key")?
    {
        None => KeysError::UnknownKey(kid.to_owned()),
        Some((_, Some(at))) => KeysError::AlreadyRevoked {
            kid: kid.to_owned(),
            at: Timestamp::from_unix(at),
        },
        Some((active, None)) => {
            return revoke_in(tx, cipher, actor, now, kid, reason, active).await;
        }
    };
    tx.rollback().await.context("ending the transaction")?;
    Err(refused)
}

/// The revocation's writes, once the key is known and not revoked.
async fn revoke_in(
    mut tx: Tx,
    cipher: &DataCipher,
    actor: &Actor,
    now: Timestamp,
    kid: &str,
    reason: &str,
    active: bool,
) -> Result<Revocation, KeysError> {
    let replaced_by = if active {
        signing_keys::retire_active(&mut tx, now)
            .await
            .context("retiring the key")?;
        Some(insert_new_active(&mut tx, cipher, actor, now, Some(kid)).await?)
    } else {
        None
    };
    if !signing_keys::revoke(&mut tx, kid, reason, now)
        .await
        .context("revoking the key")?
    {
        return Err(anyhow::anyhow!("key {kid} changed while it was being revoked").into());
    }
    let mut event = NewEvent::new(EventKind::SigningKeyRevoked, actor);
    event.data = json!({ "kid": kid, "reason": reason, "replaced_by": replaced_by });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the event")?;
    tx.commit().await.context("committing the revocation")?;
    Ok(Revocation {
        kid: kid.to_owned(),
        at: now,
        replaced_by,
    })
}

/// Creates the first key if there is none (at start-up). Safe when several
/// instances start at once: the check runs inside the write transaction.
pub async fn ensure_signing_key(
    db: &Db,
    cipher: &DataCipher,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    match generate(db, cipher, clock, &Actor::System).await {
        Ok(kid) => {
            tracing::info!(kid, "generated the first signing key");
            Ok(())
        }
        Err(KeysError::AlreadyExists) => Ok(()),
        Err(KeysError::Unexpected(e)) => Err(e),
        Err(e) => Err(e.into()),
    }
}

/// The public half of every key, for publication.
pub async fn published(db: &Db) -> anyhow::Result<Vec<PublicKeyEntry>> {
    let rows = signing_keys::list(db.pool())
        .await
        .context("listing keys")?;
    Ok(rows.iter().map(public_entry).collect())
}

fn public_entry(row: &SigningKeyRow) -> PublicKeyEntry {
    let mut entry = PublicKeyEntry::new(
        &row.id,
        &row.public_key,
        Timestamp::from_unix(row.created_at),
        row.is_active == 1,
    );
    entry.revoked_at = row.revoked_at;
    entry
}

pub async fn list(db: &Db) -> anyhow::Result<Vec<KeyInfo>> {
    let rows = signing_keys::list(db.pool())
        .await
        .context("listing keys")?;
    Ok(rows
        .into_iter()
        .map(|r| KeyInfo {
            kid: r.id,
            active: r.is_active == 1,
            created_at: Timestamp::from_unix(r.created_at),
            retired_at: r.retired_at.map(Timestamp::from_unix),
            revoked_at: r.revoked_at.map(Timestamp::from_unix),
            revoked_reason: r.revoked_reason,
        })
        .collect())
}

/// The licenses whose files `kid` signed last (the first `limit`, most
/// recently signed first) and how many there are.
pub async fn licenses_signed_by(
    db: &Db,
    kid: &str,
    limit: i64,
) -> anyhow::Result<(Vec<SignedByRow>, i64)> {
    file_signatures::licenses_signed_by(db.pool(), kid, limit)
        .await
        .context("listing the licenses a key signed files for")
}

/// What changes with the key set (see `store::signing_keys::stamp`).
pub async fn stamp(db: &Db) -> anyhow::Result<String> {
    signing_keys::stamp(db.pool())
        .await
        .context("reading the key set's stamp")
}

/// Loads the ring: opens the active private key (which proves the server
/// secret is the one the key was sealed with) and publishes every key.
pub async fn load_ring(db: &Db, cipher: &DataCipher) -> anyhow::Result<KeyRing> {
    let rows = signing_keys::list(db.pool())
        .await
        .context("loading keys")?;
    let mut active = None;
    let mut published = Vec::with_capacity(rows.len());
    for row in rows {
        published.push(public_entry(&row));
        if row.is_active == 1 {
            let seed = cipher
                .open(&row.private_key_ciphertext, row.id.as_bytes())
                .with_context(|| {
                    format!(
                        "cannot open signing key {}: is `secret_file` the file this database was set up with?",
                        row.id
                    )
                })?;
            let Ok(seed) = <[u8; 32]>::try_from(seed.as_slice()) else {
                bail!("signing key {} is damaged", row.id);
            };
            let pair = KeyPair::from_seed(&seed)?;
            if pair.kid != row.id {
                bail!("signing key {} does not match its public key", row.id);
            }
            active = Some(pair);
        }
    }
    Ok(KeyRing::new(active, published))
}
