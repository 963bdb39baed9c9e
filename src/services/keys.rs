//! The signing key ring: create the first key, rotate, list, load.

use anyhow::{Context, bail};
use serde_json::json;

use crate::clock::Clock;
use crate::domain::audit::{Actor, EventKind};
use crate::domain::time::Timestamp;
use crate::secret::DataCipher;
use crate::signing::{KeyPair, KeyRing, PublicKeyEntry};
use crate::store::events::{self, NewEvent};
use crate::store::signing_keys::{self, NewSigningKey, SigningKeyRow};
use crate::store::{Db, Tx};

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("a signing key already exists; use `licensor keys rotate` to replace it")]
    AlreadyExists,
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
    PublicKeyEntry::new(
        &row.id,
        &row.public_key,
        Timestamp::from_unix(row.created_at),
        row.is_active == 1,
    )
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
        })
        .collect())
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
