//! Email templates: each a pair, `templates/email/<name>.html` (inline
//! styles, no remote images) and `.txt`, with a typed struct and a subject.

use askama::Template;

use crate::mail::Email;

/// What every message ends with: "Licensing by {vendor}" and, when the
/// vendor gave one, the address customers write to for help.
#[derive(Debug, Clone)]
pub struct Footer {
    pub vendor_name: String,
    pub support_email: Option<String>,
}

/// Renders both parts of a message.
pub trait EmailTemplate {
    fn subject(&self) -> String;
    fn html(&self, footer: &Footer) -> Result<String, askama::Error>;
    fn text(&self, footer: &Footer) -> Result<String, askama::Error>;
    /// Reminders carry a one-click unsubscribe link (RFC 8058); security
    /// and transactional messages do not.
    fn unsubscribe_link(&self) -> Option<String> {
        None
    }

    fn email(&self, to: &str, message_id: String, footer: &Footer) -> Result<Email, askama::Error> {
        Ok(Email {
            to: to.to_owned(),
            subject: self.subject(),
            html: self.html(footer)?,
            text: self.text(footer)?,
            message_id,
            unsubscribe_url: self.unsubscribe_link(),
        })
    }
}

macro_rules! email_template {
    ($name:ident, $html:ident, $text:ident, $html_path:literal, $text_path:literal, { $($(#[$doc:meta])* $field:ident : $ty:ty),* $(,)? }, |$s:ident| $subject:expr $(, unsubscribe = $unsub:ident)?) => {
        #[derive(Debug, Clone)]
        pub struct $name {
            $($(#[$doc])* pub $field: $ty,)*
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            m: &'a $name,
            f: &'a Footer,
        }

        #[derive(Template)]
        #[template(path = $text_path, escape = "none")]
        struct $text<'a> {
            m: &'a $name,
            f: &'a Footer,
        }

        impl EmailTemplate for $name {
            fn subject(&self) -> String {
                let $s = self;
                $subject
            }
            fn html(&self, f: &Footer) -> Result<String, askama::Error> {
                $html { m: self, f }.render()
            }
            fn text(&self, f: &Footer) -> Result<String, askama::Error> {
                $text { m: self, f }.render()
            }
            $(fn unsubscribe_link(&self) -> Option<String> {
                Some(self.$unsub.clone())
            })?
        }
    };
}

email_template!(VerifyEmail, VerifyEmailHtml, VerifyEmailText, "email/verify_email.html", "email/verify_email.txt", {
    vendor_name: String,
    link: String,
    hours_valid: i64,
}, |m| format!("Confirm your email for {}", m.vendor_name));

email_template!(PasswordReset, PasswordResetHtml, PasswordResetText, "email/password_reset.html", "email/password_reset.txt", {
    vendor_name: String,
    link: String,
    minutes_valid: i64,
}, |m| format!("Reset your {} password", m.vendor_name));

email_template!(PasswordChanged, PasswordChangedHtml, PasswordChangedText, "email/password_changed.html", "email/password_changed.txt", {
    vendor_name: String,
    reset_link: String,
}, |m| format!("Your {} password was changed", m.vendor_name));

email_template!(TeamInvitation, TeamInvitationHtml, TeamInvitationText, "email/team_invitation.html", "email/team_invitation.txt", {
    vendor_name: String,
    organization: String,
    inviter: String,
    link: String,
    days_valid: i64,
}, |m| format!("Join {} on {}", m.organization, m.vendor_name));

email_template!(LicenseAssigned, LicenseAssignedHtml, LicenseAssignedText, "email/license_assigned.html", "email/license_assigned.txt", {
    vendor_name: String,
    product_name: String,
    license_type_name: String,
    link: String,
}, |m| format!("Your {} license from {}", m.product_name, m.vendor_name));

/// What a license message shows about the license. The key appears only
/// masked (its last four characters).
#[derive(Debug, Clone)]
pub struct LicenseSummary {
    pub product_name: String,
    pub license_type_name: String,
    pub key_masked: String,
    /// A date, or "never".
    pub expires: String,
    pub max_machines: i64,
    /// Feature codes joined by ", "; empty when none.
    pub entitlements: String,
}

email_template!(Welcome, WelcomeHtml, WelcomeText, "email/welcome.html", "email/welcome.txt", {
    vendor_name: String,
    license: LicenseSummary,
    /// The product's activation instructions; empty for the generic ones.
    instructions: String,
    link: String,
}, |m| format!("Welcome to {}: your license details", m.license.product_name));

email_template!(MachineActivated, MachineActivatedHtml, MachineActivatedText, "email/machine_activated.html", "email/machine_activated.txt", {
    vendor_name: String,
    license: LicenseSummary,
    machine_name: String,
    platform: String,
    activated_at: String,
    seats_used: i64,
    link: String,
}, |m| format!("A machine was activated on your {} license", m.license.product_name));

email_template!(ExpiryNotice, ExpiryNoticeHtml, ExpiryNoticeText, "email/expiry_notice.html", "email/expiry_notice.txt", {
    vendor_name: String,
    license: LicenseSummary,
    /// "in 30 days", "tomorrow", ...
    when: String,
    grace_days: i64,
    link: String,
    /// The portal's renewal page.
    renew_link: String,
    unsubscribe_link: String,
}, |m| format!("Your {} license expires {}", m.license.product_name, m.when), unsubscribe = unsubscribe_link);

email_template!(LicenseExpired, LicenseExpiredHtml, LicenseExpiredText, "email/license_expired.html", "email/license_expired.txt", {
    vendor_name: String,
    license: LicenseSummary,
    grace_days: i64,
    grace_ends: String,
    link: String,
    /// The portal's renewal page.
    renew_link: String,
    unsubscribe_link: String,
}, |m| format!("Your {} license has expired", m.license.product_name), unsubscribe = unsubscribe_link);

email_template!(LicensePurchased, LicensePurchasedHtml, LicensePurchasedText, "email/license_purchased.html", "email/license_purchased.txt", {
    vendor_name: String,
    license: LicenseSummary,
    /// "Stripe" or "Paddle".
    provider: String,
    /// A trial became this license (same key, same machines).
    upgraded: bool,
    /// A subscription: it renews by itself.
    renews: bool,
    link: String,
}, |m| if m.upgraded {
    format!("Your {} trial is now a paid license", m.license.product_name)
} else {
    format!("Thank you: your {} license", m.license.product_name)
});

email_template!(LicenseRenewed, LicenseRenewedHtml, LicenseRenewedText, "email/license_renewed.html", "email/license_renewed.txt", {
    vendor_name: String,
    license: LicenseSummary,
    /// The expiry before the renewal; empty when there was none.
    previous_expiry: String,
    link: String,
}, |m| format!("Your {} license was renewed", m.license.product_name));

email_template!(AccountExists, AccountExistsHtml, AccountExistsText, "email/account_exists.html", "email/account_exists.txt", {
    vendor_name: String,
    sign_in_link: String,
    reset_link: String,
}, |m| format!("You already have a {} account", m.vendor_name));

/// A change support made to a license that its customers hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandingChange {
    Suspended,
    Revoked,
    Reinstated,
    /// The license now belongs to another organization (the one it left
    /// hears this; the one it joined gets the welcome message).
    TransferredAway,
}

impl StandingChange {
    /// The end of the subject and the heading: "Your X license {words}".
    pub fn words(self) -> &'static str {
        match self {
            StandingChange::Suspended => "is suspended",
            StandingChange::Revoked => "was revoked",
            StandingChange::Reinstated => "works again",
            StandingChange::TransferredAway => "moved to another organization",
        }
    }

    /// What the change means for the customer's machines.
    pub fn consequence(self) -> &'static str {
        match self {
            StandingChange::Suspended => {
                "Your machines stop accepting it at their next check, and no new license file can be downloaded until it is reinstated."
            }
            StandingChange::Revoked => {
                "It can no longer be used: your machines stop accepting it at their next check, and no new license file can be downloaded."
            }
            StandingChange::Reinstated => {
                "It is in good standing again: your machines accept it at their next check, and license files can be downloaded again."
            }
            StandingChange::TransferredAway => {
                "Your organization no longer holds it. Machines already activated keep it until they are deactivated."
            }
        }
    }
}

email_template!(LicenseStandingChanged, LicenseStandingChangedHtml, LicenseStandingChangedText, "email/license_standing.html", "email/license_standing.txt", {
    vendor_name: String,
    license: LicenseSummary,
    change: StandingChange,
    /// Why, as support wrote it; empty when no reason was given.
    reason: String,
    link: String,
}, |m| format!("Your {} license {}", m.license.product_name, m.change.words()));

/// Every template rendered with fixed data, both parts, as insta snapshots
/// (`src/mail/snapshots/`): a change to a message is reviewed as the diff
/// of its snapshot (`cargo insta review`, or accept the `.snap.new` file).
#[cfg(test)]
mod snapshots {
    use super::*;

    const LINK: &str = "https://licenses.example.com/licenses/01a224ca-7b2c-76bc-b555-28ab9da014f9";
    const UNSUBSCRIBE: &str = "https://licenses.example.com/unsubscribe?u=01a224ca-71aa-75b4-8e8d-861f43329fbf&t=AAAAAAAAAAAAAAAAAAAAAA";
    const RENEW: &str =
        "https://licenses.example.com/licenses/01a224ca-7b2c-76bc-b555-28ab9da014f9/renew";

    fn vendor() -> String {
        "Acme Tools".to_owned()
    }

    fn footer() -> Footer {
        Footer {
            vendor_name: vendor(),
            support_email: Some("support@acme.example".to_owned()),
        }
    }

    fn license() -> LicenseSummary {
        LicenseSummary {
            product_name: "Acme Studio".to_owned(),
            license_type_name: "Pro yearly".to_owned(),
            key_masked: crate::domain::license_key::masked("7K2Q"),
            expires: "2027-11-29".to_owned(),
            max_machines: 3,
            entitlements: "export, pro".to_owned(),
        }
    }

    /// Both parts of every template, with the name each snapshot takes.
    fn every_template() -> Vec<(&'static str, Email)> {
        let email = |t: &dyn EmailTemplate| {
            t.email(
                "jane@example.com",
                "<1@licenses.example.com>".to_owned(),
                &footer(),
            )
            .unwrap()
        };
        vec![
            (
                "verify_email",
                email(&VerifyEmail {
                    vendor_name: vendor(),
                    link: "https://licenses.example.com/verify-email?token=TOKEN".to_owned(),
                    hours_valid: 24,
                }),
            ),
            (
                "password_reset",
                email(&PasswordReset {
                    vendor_name: vendor(),
                    link: "https://licenses.example.com/reset-password?token=TOKEN".to_owned(),
                    minutes_valid: 60,
                }),
            ),
            (
                "password_changed",
                email(&PasswordChanged {
                    vendor_name: vendor(),
                    reset_link: "https://licenses.example.com/forgot-password".to_owned(),
                }),
            ),
            (
                "team_invitation",
                email(&TeamInvitation {
                    vendor_name: vendor(),
                    organization: "Jane's Studio".to_owned(),
                    inviter: "jane@example.com".to_owned(),
                    link: "https://licenses.example.com/join?token=TOKEN".to_owned(),
                    days_valid: 7,
                }),
            ),
            (
                "license_assigned",
                email(&LicenseAssigned {
                    vendor_name: vendor(),
                    product_name: "Acme Studio".to_owned(),
                    license_type_name: "Pro yearly".to_owned(),
                    link: "https://licenses.example.com/onboarding".to_owned(),
                }),
            ),
            (
                "welcome",
                email(&Welcome {
                    vendor_name: vendor(),
                    license: license(),
                    instructions: "Install Acme Studio, open Help > Activate,\nand paste your key."
                        .to_owned(),
                    link: LINK.to_owned(),
                }),
            ),
            (
                "welcome_generic_instructions",
                email(&Welcome {
                    vendor_name: vendor(),
                    license: LicenseSummary {
                        entitlements: String::new(),
                        expires: "never".to_owned(),
                        ..license()
                    },
                    instructions: String::new(),
                    link: LINK.to_owned(),
                }),
            ),
            (
                "machine_activated",
                email(&MachineActivated {
                    vendor_name: vendor(),
                    license: license(),
                    machine_name: "Jane's <laptop>".to_owned(),
                    platform: "macOS 15".to_owned(),
                    activated_at: "2026-11-29 10:04 UTC".to_owned(),
                    seats_used: 2,
                    link: LINK.to_owned(),
                }),
            ),
            (
                "expiry_notice",
                email(&ExpiryNotice {
                    vendor_name: vendor(),
                    license: license(),
                    when: "in 7 days".to_owned(),
                    grace_days: 3,
                    link: LINK.to_owned(),
                    renew_link: RENEW.to_owned(),
                    unsubscribe_link: UNSUBSCRIBE.to_owned(),
                }),
            ),
            (
                "license_expired",
                email(&LicenseExpired {
                    vendor_name: vendor(),
                    license: license(),
                    grace_days: 3,
                    grace_ends: "2027-12-02".to_owned(),
                    link: LINK.to_owned(),
                    renew_link: RENEW.to_owned(),
                    unsubscribe_link: UNSUBSCRIBE.to_owned(),
                }),
            ),
            (
                "license_expired_no_grace",
                email(&LicenseExpired {
                    vendor_name: vendor(),
                    license: license(),
                    grace_days: 0,
                    grace_ends: "2027-11-29".to_owned(),
                    link: LINK.to_owned(),
                    renew_link: RENEW.to_owned(),
                    unsubscribe_link: UNSUBSCRIBE.to_owned(),
                }),
            ),
            (
                "license_renewed",
                email(&LicenseRenewed {
                    vendor_name: vendor(),
                    license: license(),
                    previous_expiry: "2026-11-29".to_owned(),
                    link: LINK.to_owned(),
                }),
            ),
            (
                "license_purchased",
                email(&LicensePurchased {
                    vendor_name: vendor(),
                    license: license(),
                    provider: "Stripe".to_owned(),
                    upgraded: false,
                    renews: true,
                    link: LINK.to_owned(),
                }),
            ),
            (
                "license_upgraded",
                email(&LicensePurchased {
                    vendor_name: vendor(),
                    license: license(),
                    provider: "Paddle".to_owned(),
                    upgraded: true,
                    renews: false,
                    link: LINK.to_owned(),
                }),
            ),
            (
                "account_exists",
                email(&AccountExists {
                    vendor_name: vendor(),
                    sign_in_link: "https://licenses.example.com/login".to_owned(),
                    reset_link: "https://licenses.example.com/forgot-password".to_owned(),
                }),
            ),
            (
                "license_suspended",
                email(&LicenseStandingChanged {
                    vendor_name: vendor(),
                    license: license(),
                    change: StandingChange::Suspended,
                    reason: "Payment <overdue> since 2026-11-01".to_owned(),
                    link: LINK.to_owned(),
                }),
            ),
            (
                "license_reinstated_no_reason",
                email(&LicenseStandingChanged {
                    vendor_name: vendor(),
                    license: license(),
                    change: StandingChange::Reinstated,
                    reason: String::new(),
                    link: LINK.to_owned(),
                }),
            ),
        ]
    }

    #[test]
    fn every_template_matches_its_snapshot() {
        for (name, email) in every_template() {
            insta::assert_snapshot!(
                format!("{name}.txt"),
                format!("Subject: {}\n\n{}", email.subject, email.text)
            );
            insta::assert_snapshot!(format!("{name}.html"), email.html);
        }
    }

    #[test]
    fn every_html_part_is_self_contained_and_every_link_is_in_both_parts() {
        for (name, email) in every_template() {
            let html = &email.html;
            assert!(
                !html.contains("<img") && !html.contains("<script"),
                "{name}"
            );
            assert!(
                !html.contains("<link") && !html.contains("<style"),
                "{name}: inline styles only"
            );
            assert!(!html.contains("http://"), "{name}: no plain-http links");
            for link in email
                .text
                .split_whitespace()
                .filter(|w| w.starts_with("https://"))
            {
                assert!(
                    html.contains(&link.replace('&', "&#38;"))
                        || html.contains(&link.replace('&', "&amp;"))
                        || html.contains(link),
                    "{name}: {link} missing from the HTML part"
                );
            }
            assert!(
                !email.text.contains("&#"),
                "{name}: the text part is not HTML-escaped"
            );
            for part in [&email.html, &email.text] {
                assert_eq!(
                    part.matches("Licensing by Acme Tools").count(),
                    1,
                    "{name}: the signature, once"
                );
                assert!(part.contains("support@acme.example"), "{name}: support");
                if name == "team_invitation" || name == "license_assigned" {
                    assert!(
                        !part.contains("because of"),
                        "{name}: its recipient may have no account"
                    );
                }
            }
            assert_eq!(
                email.unsubscribe_url.is_some(),
                name.starts_with("expiry") || name.starts_with("license_expired"),
                "{name}: only reminders can be unsubscribed from"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_email_renders_both_parts_with_the_link() {
        let mail = VerifyEmail {
            vendor_name: "Acme <Tools>".to_owned(),
            link: "https://licenses.example.com/verify?token=abc&x=1".to_owned(),
            hours_valid: 24,
        };
        let footer = Footer {
            vendor_name: "Acme <Tools>".to_owned(),
            support_email: None,
        };
        let email = mail
            .email("jane@example.com", "<1@x>".to_owned(), &footer)
            .unwrap();
        assert_eq!(email.subject, "Confirm your email for Acme <Tools>");
        assert!(
            email
                .html
                .contains("https://licenses.example.com/verify?token=abc&#38;x=1")
                || email
                    .html
                    .contains("https://licenses.example.com/verify?token=abc&amp;x=1")
        );
        assert!(
            email.html.contains("Acme &#60;Tools&#62;")
                || email.html.contains("Acme &lt;Tools&gt;")
        );
        assert!(
            email
                .text
                .contains("https://licenses.example.com/verify?token=abc&x=1")
        );
        assert!(
            email.text.contains("Acme <Tools>"),
            "plain text is not HTML-escaped"
        );
        assert!(
            !email.html.contains("http://") || !email.html.contains("<img"),
            "no remote images"
        );
    }
}
