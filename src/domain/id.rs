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

/// A path or body named something that is not an id we issue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not {1}")]
pub struct MalformedId(pub String, pub &'static str);

/// Declares the id type of one entity: a UUIDv7 string that only
/// `new`, `parse` (at the edge, refusing what we never issue) and
/// `from_stored` (what the database holds) make. Ids of different
/// entities are different types; each derefs to `&str` for the store.
macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident ($what:literal);)+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new time-ordered random id.
            pub fn new() -> Self {
                Self(new_id())
            }

            /// An id from a request: refused unless it has the shape of
            /// the ids we issue.
            pub fn parse(text: &str) -> Result<Self, MalformedId> {
                if is_well_formed(text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(MalformedId(text.chars().take(64).collect(), $what))
                }
            }

            /// An id as the database holds it.
            pub fn from_stored(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = MalformedId;

            fn from_str(text: &str) -> Result<Self, MalformedId> {
                Self::parse(text)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    )+};
}

id_type! {
    /// A license.
    LicenseId ("a license id");
    /// A customer's organization.
    OrganizationId ("an organization id");
    /// A person's account (customer or staff).
    UserId ("a user id");
    /// A product of the catalog.
    ProductId ("a product id");
    /// A license type of a product.
    LicenseTypeId ("a license type id");
    /// One activation of a machine.
    MachineId ("a machine id");
    /// A webhook endpoint.
    EndpointId ("a webhook endpoint id");
    /// What a customer can buy of a license type, through one provider price.
    OfferId ("an offer id");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_ids_parse_only_what_we_issue() {
        let id = LicenseId::new();
        assert_eq!(LicenseId::parse(id.as_str()), Ok(id.clone()));
        assert!(LicenseId::parse("../etc/passwd").is_err());
        assert_eq!(
            UserId::parse("1").unwrap_err().to_string(),
            "`1` is not a user id"
        );
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }

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
