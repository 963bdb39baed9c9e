//! Email templates: each a pair, `templates/email/<name>.html` (inline
//! styles, no remote images) and `.txt`, with a typed struct and a subject.

use askama::Template;

use crate::mail::Email;

/// Renders both parts of a message.
pub trait EmailTemplate {
    fn subject(&self) -> String;
    fn html(&self) -> Result<String, askama::Error>;
    fn text(&self) -> Result<String, askama::Error>;

    fn email(&self, to: &str, message_id: String) -> Result<Email, askama::Error> {
        Ok(Email {
            to: to.to_owned(),
            subject: self.subject(),
            html: self.html()?,
            text: self.text()?,
            message_id,
        })
    }
}

macro_rules! email_template {
    ($name:ident, $html:ident, $text:ident, $html_path:literal, $text_path:literal, { $($field:ident : $ty:ty),* $(,)? }, |$s:ident| $subject:expr) => {
        #[derive(Debug, Clone)]
        pub struct $name {
            $(pub $field: $ty,)*
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
