//! Identity input parsed at the edge into types that cannot be invalid:
//! emails (trimmed, lower-cased, plausible syntax), passwords (length
//! bounds) and display names.
use crate::error::ApiError;

/// Bounds on a password, in characters (minimum) and bytes (maximum: argon2
/// cost grows with length, so unbounded input would be a cheap DoS).
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_BYTES: usize = 1024;
const EMAIL_MAX: usize = 254;
const NAME_MAX_CHARS: usize = 100;

/// A normalised email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases; checks `local@domain.tld` without spaces.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let invalid = || ApiError::validation("email is not a valid email address");
        if email.is_empty() || email.len() > EMAIL_MAX {
            return Err(invalid());
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a new password's length.
pub fn new_password(password: &str) -> Result<&str, ApiError> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(ApiError::validation(format!(
            "password must be at least {PASSWORD_MIN_CHARS} characters"
        )));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(ApiError::validation(format!(
            "password must be at most {PASSWORD_MAX_BYTES} bytes"
        )));
    }
    Ok(password)
}

/// A trimmed display name of 1..=100 characters; `what` names the field.
pub fn name(raw: &str, what: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::validation(format!("{what} must not be empty")));
    }
    if name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "{what} must be at most {NAME_MAX_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_parse_when_mixed_case_with_spaces_then_normalised() {
        let email = Email::parse("  Ada@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ada@example.com");
    }

    #[test]
    fn email_parse_when_malformed_then_refused() {
        for raw in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@x.io",
            "a@b@c.io",
            "a@.io",
            "a@x..io",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn new_password_when_too_short_or_long_then_refused() {
        assert!(new_password("1234567").is_err());
        assert!(new_password("12345678").is_ok());
        assert!(new_password(&"x".repeat(PASSWORD_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn name_when_blank_or_control_then_refused() {
        assert!(name("   ", "name").is_err());
        assert!(name("a\u{7}b", "name").is_err());
        assert_eq!(name("  Ada  ", "name").expect("valid"), "Ada");
    }
}
