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
