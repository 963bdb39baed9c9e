//! API tokens for provisioning and support integrations: random, shown once,
//! stored as a SHA-256 digest, scoped read or write.

use std::fmt;

use anyhow::Context;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::domain::audit::EventKind;
use crate::domain::id::new_id;
use crate::services::context::Ctx;
use crate::store::Db;
use crate::store::api_tokens::{self, NewApiToken};

pub use crate::store::api_tokens::ApiTokenRow;
use crate::store::events::{self, NewEvent};

const PREFIX: &str = "lic_";
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }

    /// Whether a token of this scope may do what `needed` requires.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Write || needed == Scope::Read
    }
}

/// A token as printed once: never logged, never shown again.
pub struct PlainToken(Zeroizing<String>);

impl PlainToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken([redacted])")
    }
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token name is 1 to 100 printable characters")]
    BadName,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates a token; returns its id and the token itself.
pub async fn create(
    ctx: &Ctx<'_>,
    name: &str,
    scope: Scope,
) -> Result<(String, PlainToken), TokenError> {
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(TokenError::BadName);
    }
    let mut random = Zeroizing::new([0u8; 32]);
    getrandom::fill(random.as_mut())
        .map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    let mut text = Zeroizing::new(String::from(PREFIX));
    for b in random.iter() {
        text.push(char::from(ALPHABET[usize::from(b & 31)]));
    }
    let id = new_id();
    let now = ctx.clock.now();
    let prefix: String = text.chars().take(PREFIX.len() + 6).collect();
    let mut tx = ctx
        .db
        .begin_write()
        .await
        .context("starting the transaction")?;
    api_tokens::insert(
        &mut tx,
        &NewApiToken {
            id: &id,
            name,
            digest: &digest(&text),
            prefix: &prefix,
            scope: scope.as_str(),
            created_by: ctx
                .actor
                .id()
                .filter(|_| matches!(ctx.actor, crate::domain::audit::Actor::Staff { .. })),
        },
        now,
    )
    .await
    .context("storing the token")?;
    let mut event = NewEvent::new(EventKind::ApiTokenCreated, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "token_id": id, "name": name, "scope": scope.as_str(), "prefix": prefix });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the event")?;
    tx.commit().await.context("committing the token")?;
    Ok((id, PlainToken(text)))
}

/// An authenticated token.
#[derive(Debug, Clone)]
pub struct TokenIdentity {
    pub id: String,
    pub scope: Scope,
}

/// The live token a bearer string names, if any; records its use.
pub async fn authenticate(
    db: &Db,
    now: crate::domain::time::Timestamp,
    bearer: &str,
) -> anyhow::Result<Option<TokenIdentity>> {
    if !bearer.starts_with(PREFIX) || bearer.len() > 100 {
        return Ok(None);
    }
    let Some(row) = api_tokens::find_live_by_digest(db.pool(), &digest(bearer)).await? else {
        return Ok(None);
    };
    let Some(scope) = Scope::parse(&row.scope) else {
        return Ok(None);
    };
    api_tokens::touch(db.pool(), &row.id, now).await?;
    Ok(Some(TokenIdentity { id: row.id, scope }))
}

/// Revokes a token at once: the next request with it is refused.
pub async fn revoke(ctx: &Ctx<'_>, id: &str) -> Result<bool, TokenError> {
    let now = ctx.clock.now();
    let mut tx = ctx
        .db
        .begin_write()
        .await
        .context("starting the transaction")?;
    if !api_tokens::revoke(&mut tx, id, now)
        .await
        .context("revoking the token")?
    {
        return Ok(false);
    }
    let mut event = NewEvent::new(EventKind::ApiTokenRevoked, &ctx.actor);
    event.request_id = ctx.request_id.as_deref();
    event.data = json!({ "token_id": id, "reason": ctx.reason });
    events::insert(&mut tx, now, &event)
        .await
        .context("recording the event")?;
    tx.commit().await.context("committing the revocation")?;
    Ok(true)
}

/// Every API token, for the console's list (never the secrets).
pub async fn list(db: &Db) -> anyhow::Result<Vec<ApiTokenRow>> {
    Ok(api_tokens::list(db.pool()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert!(Scope::Write.allows(Scope::Read));
        assert!(Scope::Write.allows(Scope::Write));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write));
        assert_eq!(Scope::parse("admin"), None);
    }
}
