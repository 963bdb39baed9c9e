//! Sessions on a store of our own in the database, so a session can be
//! ended server-side ("sign out everywhere", a password reset) and works
//! across instances. The cookie carries a random key; the table holds its
//! SHA-256 digest. Idle timeout comes from the middleware's TTL; the
//! absolute timeout is enforced here from the row's creation time.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::domain::time::Timestamp;
use crate::store::{Db, sessions};

/// The session entry that names the signed-in user.
pub const USER_ID: &str = "user_id";

/// The signed-in account of a request, read from the database (so a role
/// change or a disabled account takes effect at once). No session, an
/// unknown account or a disabled one: a redirect to the sign-in page.
pub fn signed_in_user(
    req: &actix_web::HttpRequest,
) -> impl std::future::Future<
    Output = Result<crate::services::accounts::UserRow, crate::web::error::WebError>,
> + use<> {
    use crate::web::error::WebError;
    use actix_session::SessionExt;
    let user_id = req.get_session().get::<String>(USER_ID).ok().flatten();
    let db = req.app_data::<actix_web::web::Data<Db>>().cloned();
    async move {
        let to_login = || WebError::Redirect("/login".to_owned());
        let (Some(user_id), Some(db)) = (user_id, db) else {
            return Err(to_login());
        };
        let user = crate::services::accounts::active_user(&db, &user_id)
            .await?
            .ok_or_else(to_login)?;
        crate::web::request::record_user(&user.id);
        Ok(user)
    }
}

pub struct DbSessionStore {
    db: Db,
    clock: SharedClock,
    absolute_secs: i64,
}

impl DbSessionStore {
    pub fn new(db: Db, clock: SharedClock, absolute_secs: i64) -> Self {
        Self {
            db,
            clock,
            absolute_secs,
        }
    }
}

/// The digest a session key is stored under.
pub fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_key() -> Result<SessionKey, anyhow::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    SessionKey::try_from(key).map_err(|e| anyhow::anyhow!("session key rejected: {e}"))
}

/// The signed-in user id inside a session state (values are JSON).
fn user_of(state: &HashMap<String, String>) -> Option<String> {
    state
        .get(USER_ID)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

fn ttl_secs(ttl: &Duration) -> i64 {
    ttl.whole_seconds().max(60)
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let digest = digest(key.as_ref());
        let row = sessions::find(self.db.pool(), &digest)
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let now = self.clock.now().unix();
        if row.expires_at <= now || row.created_at + self.absolute_secs <= now {
            sessions::delete(self.db.pool(), &digest)
                .await
                .map_err(|e| LoadError::Other(e.into()))?;
            return Ok(None);
        }
        serde_json::from_str(&row.state)
            .map(Some)
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        let json = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let now = self.clock.now();
        sessions::insert(
            self.db.pool(),
            &digest(key.as_ref()),
            user_of(&state).as_deref(),
            &json,
            now,
            Timestamp::from_unix(now.unix() + ttl_secs(ttl)),
        )
        .await
        .map_err(|e| SaveError::Other(e.into()))?;
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let now = self.clock.now();
        let updated = sessions::update(
            self.db.pool(),
            &digest(key.as_ref()),
            user_of(&state).as_deref(),
            &json,
            now,
            Timestamp::from_unix(now.unix() + ttl_secs(ttl)),
        )
        .await
        .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            return Ok(key);
        }
        // The row was ended meanwhile: start a new session, never revive.
        self.save(state, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let now = self.clock.now();
        sessions::touch(
            self.db.pool(),
            &digest(key.as_ref()),
            now,
            Timestamp::from_unix(now.unix() + ttl_secs(ttl)),
        )
        .await?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        sessions::delete(self.db.pool(), &digest(key.as_ref())).await?;
        Ok(())
    }
}
