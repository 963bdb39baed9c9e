//! `Idempotency-Key` on every state-changing request of an API token: a
//! retry with the same key and body gets the first response again (and
//! changes nothing more); the same key with another body gets 422.

use std::future::Future;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::store::{Db, idempotency};
use crate::web::error::{Problem, WebError};

/// A JSON answer before it becomes a response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub location: Option<String>,
    /// True when this is a stored answer to an earlier request.
    pub replayed: bool,
}

impl Reply {
    pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Result<Self, WebError> {
        Ok(Self {
            status,
            body: serde_json::to_vec(value).map_err(|e| WebError::Unexpected(e.into()))?,
            location: None,
            replayed: false,
        })
    }

    /// An answer without a body (204).
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: Vec::new(),
            location: None,
            replayed: false,
        }
    }

    pub fn at(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }

    /// A plain (unsigned) JSON response.
    pub fn into_response(self) -> actix_web::HttpResponse {
        let mut res = actix_web::HttpResponse::build(self.status);
        res.insert_header(("Cache-Control", "no-store"));
        if !self.body.is_empty() {
            res.content_type("application/json");
        }
        if let Some(location) = self.location {
            res.insert_header(("Location", location));
        }
        if self.replayed {
            res.insert_header(("Idempotent-Replayed", "true"));
        }
        res.body(self.body)
    }
}

fn header_key(req: &HttpRequest) -> Result<Option<String>, WebError> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(s) if (1..=255).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(Some(s.to_owned()))
        }
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters.",
        )
        .into()),
    }
}

/// [`run`] for a request of an API token (its keys are the token's), as
/// the response.
pub async fn for_token<F, Fut>(
    req: &HttpRequest,
    db: &Db,
    clock: &dyn Clock,
    client: &crate::web::api::auth::ApiClient,
    body: &[u8],
    create: F,
) -> Result<actix_web::HttpResponse, WebError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, WebError>>,
{
    Ok(run(req, db, clock, &client.token_id, body, create)
        .await?
        .into_response())
}

/// Runs `create` at most once per (scope, Idempotency-Key); without the
/// header it simply runs. Only successful answers are stored: a refused
/// request may be retried.
pub async fn run<F, Fut>(
    req: &HttpRequest,
    db: &Db,
    clock: &dyn Clock,
    scope: &str,
    body: &[u8],
    create: F,
) -> Result<Reply, WebError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, WebError>>,
{
    let Some(key) = header_key(req)? else {
        return create().await;
    };
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pool = db.pool();
    let now = clock.now();

    idempotency::forget_expired(pool, scope, &key, now).await?;
    if !idempotency::claim(pool, scope, &key, &digest, now).await? {
        let stored = idempotency::find(pool, scope, &key)
            .await?
            .ok_or_else(|| WebError::Unexpected(anyhow::anyhow!("idempotency row vanished")))?;
        if stored.request_digest != digest {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used with another request; use a new key.",
            )
            .into());
        }
        if stored.status_code == 0 {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still running; retry shortly.",
            )
            .header(actix_web::http::header::RETRY_AFTER, "1")
            .into());
        }
        let status = u16::try_from(stored.status_code)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        let location = (!stored.response_headers.is_empty()).then_some(stored.response_headers);
        return Ok(Reply {
            status,
            body: stored.response_body,
            location,
            replayed: true,
        });
    }
    match create().await {
        Ok(reply) => {
            idempotency::complete(
                pool,
                scope,
                &key,
                i64::from(reply.status.as_u16()),
                reply.location.as_deref().unwrap_or_default(),
                &reply.body,
            )
            .await?;
            Ok(reply)
        }
        Err(e) => {
            idempotency::release(pool, scope, &key).await?;
            Err(e)
        }
    }
}
