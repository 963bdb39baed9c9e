//! Email templates: each a pair, `templates/email/<name>.html` (inline
//! styles, no remote images) and `.txt`, with a typed struct and a subject.

use askama::Template;

use crate::mail::Email;

/// Renders both parts of a message.
pub trait EmailTemplate {
    fn subject(&self) -> String;
    fn html(&self) -> Result<String, askama::Error>;
    fn text(&self) -> Result<String, askama::Error>;
    /// Reminders carry a one-click unsubscribe link (RFC 8058); security
    /// and transactional messages do not.
    fn unsubscribe_link(&self) -> Option<String> {
        None
    }

    fn email(&self, to: &str, message_id: String) -> Result<Email, askama::Error> {
        Ok(Email {
            to: to.to_owned(),
            subject: self.subject(),
            html: self.html()?,
            text: self.text()?,
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
        }

        #[derive(Template)]
        #[template(path = $text_path, escape = "none")]
        struct $text<'a> {
            m: &'a $name,
        }

        impl EmailTemplate for $name {
            fn subject(&self) -> String {
                let $s = self;
                $subject
            }
            fn html(&self) -> Result<String, askama::Error> {
                $html { m: self }.render()
            }
            fn text(&self) -> Result<String, askama::Error> {
                $text { m: self }.render()
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
        let email = mail.email("jane@example.com", "<1@x>".to_owned()).unwrap();
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
    unsubscribe_link: String,
}, |m| format!("Your {} license expires {}", m.license.product_name, m.when), unsubscribe = unsubscribe_link);

email_template!(LicenseExpired, LicenseExpiredHtml, LicenseExpiredText, "email/license_expired.html", "email/license_expired.txt", {
    vendor_name: String,
    license: LicenseSummary,
    grace_days: i64,
    grace_ends: String,
    link: String,
    unsubscribe_link: String,
}, |m| format!("Your {} license has expired", m.license.product_name), unsubscribe = unsubscribe_link);

email_template!(LicenseRenewed, LicenseRenewedHtml, LicenseRenewedText, "email/license_renewed.html", "email/license_renewed.txt", {
    vendor_name: String,
    license: LicenseSummary,
    /// The expiry before the renewal; empty when there was none.
    previous_expiry: String,
    link: String,
}, |m| format!("Your {} license was renewed", m.license.product_name));
