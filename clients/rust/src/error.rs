//! What the client returns when it has no verdict: the API's refusals with
//! their stable `code`, answers that fail their checks, no answer at all,
//! and a state file it cannot write.

use serde::Deserialize;

/// What to tell the person: a sentence and where to act.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NextAction {
    pub message: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The API refused the request (a problem document: `code`, `detail`).
    Refused,
    /// An answer that is not provably the vendor's fresh answer to this
    /// request: unsigned, a bad signature, an unknown or revoked key,
    /// another nonce, a Date far from this clock. Never "valid".
    Rejected,
    /// No answer (connection, timeout, 5xx or 429 after the retries) and
    /// no offline grace to answer from.
    Unreachable,
    /// The offline state could not be kept, or the client not started.
    State,
}

/// A refusal or failure with the API's `code`, `detail`, `next_action`, the
/// HTTP `status` and the `request_id` to quote to support.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Error {
    pub kind: ErrorKind,
    pub code: String,
    pub detail: String,
    pub status: Option<u16>,
    pub next_action: Option<Box<NextAction>>,
    pub request_id: Option<String>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.to_owned(),
            detail: detail.into(),
            status: None,
            next_action: None,
            request_id: None,
        }
    }

    pub(crate) fn rejected(code: &str, detail: impl Into<String>, request_id: &str) -> Self {
        let mut e = Self::new(ErrorKind::Rejected, code, detail);
        e.request_id = Some(request_id.to_owned()).filter(|r| !r.is_empty());
        e
    }

    pub(crate) fn unreachable(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unreachable, "unreachable", detail)
    }

    pub(crate) fn state(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::State, "state", detail)
    }
}

impl From<licensor_verify::VerifyError> for Error {
    fn from(e: licensor_verify::VerifyError) -> Self {
        Self::new(ErrorKind::Rejected, e.code(), e.to_string())
    }
}
