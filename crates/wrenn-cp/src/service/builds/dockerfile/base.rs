//! What a `FROM` names: a Wrenn template (`base`, a team template,
//! `name:tag`). `debian:<suite>`, `scratch` and OCI image references
//! (anything with a registry path or digest) are recognised and refused
//! with `unsupported_base` for now.
use wrenn_types::TemplateName;

use super::DockerfileError;

/// A template version's tag: the rules of a template name (1-63 of
/// `[a-z0-9-_.]`, starting with a letter or digit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// The tag a build gets, and `name` resolves to, when none is given.
    pub fn latest() -> Tag {
        Tag("latest".into())
    }

    pub fn parse(value: &str) -> Option<Tag> {
        value
            .parse::<TemplateName>()
            .ok()
            .map(|n| Tag(n.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `name` or `name:tag` of a Wrenn template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub name: TemplateName,
    /// `None`: the template itself, or its `latest` version.
    pub tag: Option<Tag>,
}

impl TemplateRef {
    /// Parses `name[:tag]`; `None` when either part breaks the name rules.
    pub fn parse(value: &str) -> Option<TemplateRef> {
        let (name, tag) = match value.split_once(':') {
            Some((name, tag)) => (name, Some(Tag::parse(tag)?)),
            None => (value, None),
        };
        Some(TemplateRef {
            name: name.parse().ok()?,
            tag,
        })
    }
}

impl std::fmt::Display for TemplateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "{}:{tag}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// The base of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    Template(TemplateRef),
}

impl BaseRef {
    /// Classifies a `FROM` reference (variables already expanded).
    pub fn classify(line: u32, reference: &str) -> Result<BaseRef, DockerfileError> {
        let refuse = |reason| DockerfileError::UnsupportedBase {
            line,
            reference: reference.to_owned(),
            reason,
        };
        let name = reference.split(':').next().unwrap_or_default();
        if reference == "scratch" {
            return Err(refuse("an empty base is not supported; use FROM base"));
        }
        if name == "debian" {
            return Err(refuse(
                "debian:<suite> bases are not supported yet; use FROM base",
            ));
        }
        if reference.contains('/') || reference.contains('@') {
            return Err(refuse("OCI image bases are not supported yet"));
        }
        TemplateRef::parse(reference)
            .map(BaseRef::Template)
            .ok_or_else(|| DockerfileError::Invalid {
                line,
                instruction: "FROM".into(),
                message: format!(
                    "'{reference}' is not a template name[:tag] (1-63 of a-z, 0-9, '-', '_', '.')"
                ),
            })
    }
}
