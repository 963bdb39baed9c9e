//! Public ids: random UUIDv7 strings, never sequential integers.

/// A new time-ordered random id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` has the shape of an id we issue (a hyphenated UUID), so a
/// malformed id in a URL is refused before any lookup.
pub fn is_well_formed(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(is_well_formed(&a));
        assert!(!is_well_formed("1"));
        assert!(!is_well_formed("../etc/passwd"));
    }
}
