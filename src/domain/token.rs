//! What a single-use token is for.

use super::vocabulary::text_enum;

text_enum! {
    /// The purpose of a single-use token; a token of one kind never
    /// passes for another.
    pub enum TokenKind ("a token kind") {
        EmailVerification = "email_verification",
        PasswordReset = "password_reset",
        Invitation = "invitation",
    }
}
