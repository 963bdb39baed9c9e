//! What every use case is given: the database, the clock, who acts and the
//! request that asked.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::domain::audit::Actor;
use crate::store::Db;

pub struct Ctx<'a> {
    pub db: &'a Db,
    pub clock: &'a dyn Clock,
    pub actor: Actor,
    pub request_id: Option<String>,
    /// Why a person (support staff) made the change; recorded with it.
    pub reason: Option<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock, actor: Actor) -> Self {
        Self {
            db,
            clock,
            actor,
            request_id: None,
            reason: None,
        }
    }

    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

/// What messages and links say about the vendor: its name, the public URL
/// links point at, and the key that signs links which work without a
/// session (one-click unsubscribe).
#[derive(Clone)]
pub struct Brand {
    pub vendor_name: String,
    pub public_url: url::Url,
    /// Where customers write for help (setting `support_email`).
    pub support_email: Option<String>,
    link_key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Brand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Brand")
            .field("vendor_name", &self.vendor_name)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Bytes of HMAC-SHA256 kept in a signed link: 128 bits.
const LINK_TAG_BYTES: usize = 16;

impl Brand {
    /// `link_key` comes from the server secret
    /// (`ServerSecret::derive_bytes("signed-links-v1")`).
    pub fn new(vendor_name: String, public_url: url::Url, link_key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            vendor_name,
            public_url,
            support_email: None,
            link_key,
        }
    }

    pub fn with_support_email(mut self, support_email: Option<String>) -> Self {
        self.support_email = support_email;
        self
    }

    /// What every message ends with: who licenses, and where to get help.
    pub fn footer(&self) -> crate::mail::templates::Footer {
        crate::mail::templates::Footer {
            vendor_name: self.vendor_name.clone(),
            support_email: self.support_email.clone(),
        }
    }

    /// An absolute link to `path` (which starts with `/`).
    pub fn link(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// The customer's page of a license, for messages about it.
    pub fn license_link(&self, license_id: &str) -> String {
        self.link(&format!("/licenses/{license_id}"))
    }

    /// Where a customer renews a license (or upgrades a trial): the
    /// portal's offers for it, each going to the provider's checkout.
    pub fn renew_link(&self, license_id: &str) -> String {
        self.link(&format!("/licenses/{license_id}/renew"))
    }

    fn link_mac(&self, purpose: &str, subject: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.link_key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(subject.as_bytes());
        mac
    }

    /// The one-click link that turns off a user's expiry reminders; it
    /// works without signing in and cannot be forged for another user.
    pub fn unsubscribe_link(&self, user_id: &str) -> String {
        let tag = self
            .link_mac("unsubscribe", user_id)
            .finalize()
            .into_bytes();
        let token = URL_SAFE_NO_PAD.encode(&tag[..LINK_TAG_BYTES]);
        self.link(&format!("/unsubscribe?u={user_id}&t={token}"))
    }

    /// Whether `token` is the unsubscribe token of `user_id` (constant time).
    pub fn check_unsubscribe(&self, user_id: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        tag.len() == LINK_TAG_BYTES
            && self
                .link_mac("unsubscribe", user_id)
                .verify_truncated_left(&tag)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand(key: u8) -> Brand {
        Brand::new(
            "Acme".to_owned(),
            url::Url::parse("https://licenses.example.com/").unwrap(),
            Zeroizing::new([key; 32]),
        )
    }

    #[test]
    fn unsubscribe_links_verify_only_for_their_user_and_key() {
        let b = brand(1);
        let link = b.unsubscribe_link("user-1");
        assert!(link.starts_with("https://licenses.example.com/unsubscribe?u=user-1&t="));
        let token = link.split("&t=").nth(1).unwrap();
        assert!(b.check_unsubscribe("user-1", token));
        assert!(!b.check_unsubscribe("user-2", token));
        assert!(!brand(2).check_unsubscribe("user-1", token));
        assert!(!b.check_unsubscribe("user-1", ""));
        assert!(!b.check_unsubscribe("user-1", "not base64!"));
        assert!(!b.check_unsubscribe("user-1", &token[..10]));
        assert!(!format!("{b:?}").contains("link_key"));
    }
}
