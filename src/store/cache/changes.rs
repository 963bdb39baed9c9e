//! What changed, for the cache: named by a write transaction as it writes
//! (`Tx::touch_license`, `Tx::touch_machine`), or read from the change
//! feed's notices.
//!
//! A notice is one of three texts, the same on both backends (the
//! triggers of migrations 0005 and 0008 write them):
//!
//! - `*`: everything (a product, type or entitlement that licenses share);
//! - a license id: the license's row changed;
//! - a license id, a space and a fingerprint: that machine of the license
//!   changed (activated, deactivated, a heartbeat). Ids and fingerprints
//!   never hold a space or a comma (`Fingerprint::parse`).
//!
//! PostgreSQL carries one notice per `NOTIFY`; the cache's own tests and
//! tools may join several with commas.

use std::collections::HashSet;

/// A set of changes to apply to the cache at once (a transaction that
/// frees 50,000 dead seats names each machine).
#[derive(Debug, Default)]
pub struct Changes {
    pub(super) all: bool,
    pub(super) licenses: HashSet<String>,
    /// (license id, fingerprint).
    pub(super) machines: HashSet<(String, String)>,
}

impl Changes {
    /// The license's row changed.
    pub(crate) fn license(&mut self, id: &str) {
        if !self.all && !self.licenses.contains(id) {
            self.licenses.insert(id.to_owned());
        }
    }

    /// A machine of the license changed.
    pub(crate) fn machine(&mut self, license_id: &str, fingerprint: &str) {
        if !self.all {
            self.machines
                .insert((license_id.to_owned(), fingerprint.to_owned()));
        }
    }

    /// Everything changed.
    pub(crate) fn all(&mut self) {
        *self = Self {
            all: true,
            ..Self::default()
        };
    }

    /// Adds the change one notice names (see the module documentation);
    /// several may be joined with commas.
    pub fn notice(&mut self, payload: &str) {
        for one in payload.split(',').filter(|s| !s.is_empty()) {
            match one.split_once(' ') {
                _ if one == super::ALL => self.all(),
                Some((license_id, fingerprint)) => self.machine(license_id, fingerprint),
                None => self.license(one),
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.licenses.is_empty() && self.machines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_as_licenses_machines_or_everything() {
        let mut changes = Changes::default();
        changes.notice("l1,l2 fp-a:b/c=,,l1");
        assert_eq!(changes.licenses, HashSet::from(["l1".to_owned()]));
        assert_eq!(
            changes.machines,
            HashSet::from([("l2".to_owned(), "fp-a:b/c=".to_owned())])
        );
        changes.notice("*");
        assert!(changes.all && changes.licenses.is_empty());
        changes.notice("l3");
        assert!(changes.licenses.is_empty());
        assert!(Changes::default().is_empty());
    }
}
