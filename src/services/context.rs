//! What every use case is given: the database, the clock, who acts and the
//! request that asked.

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::store::Db;

pub struct Ctx<'a> {
    pub db: &'a Db,
    pub clock: &'a dyn Clock,
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock, actor: Actor) -> Self {
        Self {
            db,
            clock,
            actor,
            request_id: None,
        }
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

/// What messages and links say about the vendor: its name and the public
/// URL links point at.
#[derive(Debug, Clone)]
pub struct Brand {
    pub vendor_name: String,
    pub public_url: url::Url,
}

impl Brand {
    /// An absolute link to `path` (which starts with `/`).
    pub fn link(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}
