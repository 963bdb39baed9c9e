//! What the console's forms share: a refusal named by its field, a
//! comma-separated list of codes, and the reason staff give for a change.

/// A form's refusal: the field it concerns and what is wrong, shown beside
/// that field.
pub type FieldError = (&'static str, String);

/// What is wrong with `field`, if the refusal concerns it.
pub fn error_of<'a>(error: &'a Option<FieldError>, field: &str) -> Option<&'a str> {
    error
        .as_ref()
        .filter(|(f, _)| *f == field)
        .map(|(_, e)| e.as_str())
}

/// The form field a use case's field is typed into (the forms take a date
/// where the use case takes `expires_at`).
pub fn on_form(field: &'static str) -> &'static str {
    match field {
        "expires_at" => "expires",
        other => other,
    }
}

/// Codes typed as `a, b, c`: trimmed, sorted, each once.
pub fn codes(text: &str) -> Vec<String> {
    let mut codes: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// Whether `reason` (trimmed) is one a change may be recorded with: 1 to
/// 500 characters on one line.
pub fn is_reason(reason: &str) -> bool {
    !reason.is_empty() && reason.chars().count() <= 500 && !reason.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trimmed_sorted_and_once() {
        assert_eq!(codes(" pro, export,,pro "), ["export", "pro"]);
        assert!(codes(" , ").is_empty());
        let error = Some(("seats", "too many".to_owned()));
        assert_eq!(error_of(&error, "seats"), Some("too many"));
        assert_eq!(error_of(&error, "expires"), None);
    }
}
