//! Validated identifiers. Each is a newtype over `String` that can only hold
//! a well-formed value, so code that has one never re-checks it and an id is
//! always safe as a path component, a URL segment or a log field.
//!
//! Generated ids are `<prefix><20 × [a-z0-9]>` (`host_…`, `team_…`); sandbox
//! ids have no prefix (20 × `[a-z0-9]`, like E2B's) so E2B clients accept
//! them.
use std::fmt;

/// Why a string is not a valid id; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("sandbox id '{0}' is invalid: use 1-64 characters a-z, 0-9 and '-'")]
    SandboxId(String),
    #[error("template name '{0}' is invalid: use 1-63 characters a-z, 0-9, '-', '_' and '.', starting with a letter or digit")]
    TemplateName(String),
    #[error("{kind} id '{value}' is invalid: expected '{prefix}' followed by 1-64 characters a-z and 0-9")]
    Prefixed {
        kind: &'static str,
        prefix: &'static str,
        value: String,
    },
}

/// Length of the random part of a generated id.
const RANDOM_LEN: usize = 20;

/// The conversions every id has: from `String` (validated), into `String`,
/// `FromStr`, `Display`, `AsRef<str>`, serde through the validation, and an
/// OpenAPI string schema.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                $check(value).map(Self)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::try_from(value.to_owned())
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::try_from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// An id with a fixed prefix and a random `[a-z0-9]` part.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        id_type!($(#[$doc])* $name, $name::check);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, crate::random_lowercase(RANDOM_LEN)))
            }

            fn check(value: String) -> Result<String, IdError> {
                let ok = value.strip_prefix($prefix).is_some_and(|rest| {
                    (1..=64).contains(&rest.len())
                        && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
                if ok {
                    Ok(value)
                } else {
                    Err(IdError::Prefixed { kind: $kind, prefix: $prefix, value })
                }
            }
        }
    };
}

id_type!(
    /// A sandbox id: lowercase letters, digits and '-', at most 64 characters.
    SandboxId,
    check_sandbox_id
);

impl SandboxId {
    /// A fresh random id (20 characters of `[a-z0-9]`, like E2B's).
    pub fn generate() -> Self {
        Self(crate::random_lowercase(RANDOM_LEN))
    }
}

fn check_sandbox_id(value: String) -> Result<String, IdError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(value)
    } else {
        Err(IdError::SandboxId(value))
    }
}

id_type!(
    /// A template name, safe to use as a path component: 1-63 characters of
    /// `[a-z0-9-_.]`, starting with a letter or digit, no `..`.
    TemplateName,
    check_template_name
);

fn check_template_name(value: String) -> Result<String, IdError> {
    let bytes = value.as_bytes();
    let ok = (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && !value.contains("..");
    if ok {
        Ok(value)
    } else {
        Err(IdError::TemplateName(value))
    }
}

prefixed_id!(
    /// A host (machine running `wrenn-agent`) known to the control plane.
    HostId,
    "host",
    "host_"
);
prefixed_id!(
    /// A team: the owner of sandboxes, templates, keys and hosts it brought.
    TeamId,
    "team",
    "team_"
);
prefixed_id!(
    /// A user account.
    UserId,
    "user",
    "usr_"
);
prefixed_id!(
    /// An API key's public id (not the secret).
    KeyId,
    "key",
    "key_"
);
prefixed_id!(
    /// A template record's id.
    TemplateId,
    "template",
    "tpl_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_id_when_generated_then_valid_and_unique() {
        let (a, b) = (SandboxId::generate(), SandboxId::generate());
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().parse::<SandboxId>().is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn sandbox_id_when_path_traversal_then_rejected() {
        assert!("../etc".parse::<SandboxId>().is_err());
        assert!("".parse::<SandboxId>().is_err());
        assert!("ABC".parse::<SandboxId>().is_err());
        assert!("a".repeat(65).parse::<SandboxId>().is_err());
    }

    #[test]
    fn template_name_when_dots_then_only_single_dots_allowed() {
        assert!("code-interpreter-v1".parse::<TemplateName>().is_ok());
        assert!("py3.11".parse::<TemplateName>().is_ok());
        assert!("..".parse::<TemplateName>().is_err());
        assert!(".hidden".parse::<TemplateName>().is_err());
        assert!("a/b".parse::<TemplateName>().is_err());
    }

    #[test]
    fn prefixed_id_when_generated_then_prefix_and_round_trip() {
        let id = HostId::generate();
        assert!(id.as_str().starts_with("host_"));
        assert_eq!(id.as_str().parse::<HostId>(), Ok(id.clone()));
        assert!(TeamId::generate().as_str().starts_with("team_"));
    }

    #[test]
    fn prefixed_id_when_wrong_prefix_or_alphabet_then_error_names_rule() {
        let err = "team_abc"
            .parse::<HostId>()
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(matches!(&err, Err(m) if m.contains("'host_'")), "{err:?}");
        assert!("host_".parse::<HostId>().is_err());
        assert!("host_ABC".parse::<HostId>().is_err());
        assert!("host_a/b".parse::<HostId>().is_err());
    }

    #[test]
    fn id_when_deserialized_then_validated() {
        let ok: Result<TeamId, _> = serde_json::from_str("\"team_abc123\"");
        assert!(ok.is_ok());
        let bad: Result<TeamId, _> = serde_json::from_str("\"../../etc\"");
        assert!(bad.is_err());
        let id = "team_x1"
            .parse::<TeamId>()
            .map(|id| serde_json::to_string(&id).ok());
        assert_eq!(id, Ok(Some("\"team_x1\"".to_owned())));
    }
}
