//! The machines of licenses too large for their entry to hold them
//! (more than [`HELD_MACHINES`](super::HELD_MACHINES) live): each is looked
//! up by its fingerprint when a request names it, and what the lookup found
//! (a machine, or none by that fingerprint) is kept here until that machine
//! changes. These outlive their license's entry, which every activation
//! drops, so a license with 50,000 machines costs a validation or an
//! activation what a license with one does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::entry::{CompactId, MachineState};

/// What one lookup found.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) machine: Option<MachineState>,
    filled: Instant,
}

impl Slot {
    pub(super) fn is_fresh(&self, ttl: Option<Duration>) -> bool {
        ttl.is_none_or(|ttl| self.filled.elapsed() < ttl)
    }
}

#[derive(Debug, Default)]
pub(super) struct LookedUp {
    by_license: HashMap<CompactId, HashMap<Box<str>, Slot>>,
    /// Slots held, across licenses.
    len: usize,
}

impl LookedUp {
    pub(super) fn get(&self, license: &CompactId, fingerprint: &str) -> Option<&Slot> {
        self.by_license.get(license)?.get(fingerprint)
    }

    /// Keeps what a lookup found. At `capacity` slots every slot goes
    /// first: lookups are cheap to repeat, and the bound must hold.
    pub(super) fn insert(
        &mut self,
        license: &CompactId,
        fingerprint: &str,
        machine: Option<MachineState>,
        capacity: usize,
    ) {
        if self.len >= capacity {
            tracing::debug!(
                slots = self.len,
                "license cache: looked-up machines at capacity; starting over"
            );
            *self = Self::default();
        }
        let slot = Slot {
            machine,
            filled: Instant::now(),
        };
        let slots = self.by_license.entry(license.clone()).or_default();
        if slots.insert(fingerprint.into(), slot).is_none() {
            self.len += 1;
        }
    }

    /// Forgets what was found for this machine.
    pub(super) fn remove(&mut self, license: &CompactId, fingerprint: &str) {
        let Some(slots) = self.by_license.get_mut(license) else {
            return;
        };
        if slots.remove(fingerprint).is_some() {
            self.len -= 1;
        }
        if slots.is_empty() {
            self.by_license.remove(license);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}
