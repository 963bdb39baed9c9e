//! The one place that reads the system clock. Everything that depends on
//! "now" takes a [`Clock`], so tests can move time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::time::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Shared handle to the application's clock.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    secs: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            secs: AtomicI64::new(start.unix()),
        }
    }

    pub fn set(&self, to: Timestamp) {
        self.secs.store(to.unix(), Ordering::SeqCst);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.secs.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.secs.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix(1_000));
        assert_eq!(clock.now().unix(), 1_000);
        clock.advance_secs(86_400);
        assert_eq!(clock.now().unix(), 87_400);
        clock.set(Timestamp::from_unix(5));
        assert_eq!(clock.now().unix(), 5);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now().unix() > 1_577_836_800);
    }
}
