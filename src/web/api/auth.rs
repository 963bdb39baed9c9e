//! Bearer API tokens for the provisioning and support endpoints.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::clock::Clock;
use crate::services::api_tokens::{self, Scope};
use crate::store::Db;
use crate::web::error::{Problem, WebError};

/// A request authenticated by an API token.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub token_id: String,
    pub scope: Scope,
}

impl ApiClient {
    /// Refuses with 403 unless the token's scope allows `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), WebError> {
        if self.scope.allows(needed) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("This needs a token with the {} scope.", needed.as_str()),
            )
            .into())
        }
    }
}

pub(crate) fn unauthorized(code: &'static str, detail: &str) -> WebError {
    Problem::new(StatusCode::UNAUTHORIZED, code, detail)
        .header(
            HeaderName::from_static("www-authenticate"),
            "Bearer realm=\"licensor\"",
        )
        .into()
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

impl FromRequest for ApiClient {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let bearer = bearer_token(req);
        let db = req.app_data::<web::Data<Db>>().cloned();
        let clock = req.app_data::<web::Data<dyn Clock>>().cloned();
        Box::pin(async move {
            let Some(bearer) = bearer else {
                return Err(unauthorized(
                    "unauthorized",
                    "Send an API token: Authorization: Bearer <token>.",
                ));
            };
            let (Some(db), Some(clock)) = (db, clock) else {
                return Err(WebError::Unexpected(anyhow::anyhow!(
                    "database or clock not configured"
                )));
            };
            match api_tokens::authenticate(&db, clock.now(), &bearer).await? {
                Some(identity) => Ok(ApiClient {
                    token_id: identity.id,
                    scope: identity.scope,
                }),
                None => Err(unauthorized(
                    "invalid_token",
                    "The API token is unknown or revoked.",
                )),
            }
        })
    }
}
