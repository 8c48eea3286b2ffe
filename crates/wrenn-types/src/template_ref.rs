//! `name` or `name:tag`: how a build's `FROM` and a sandbox create name a
//! template version. A tag follows a template name's rules.
use crate::TemplateName;

/// A template version's tag: the rules of a template name (1-63 of
/// `[a-z0-9-_.]`, starting with a letter or digit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TemplateTag(String);

impl TemplateTag {
    /// The tag a build gets, and `name` resolves to, when none is given.
    pub fn latest() -> TemplateTag {
        TemplateTag("latest".into())
    }

    pub fn parse(value: &str) -> Option<TemplateTag> {
        value
            .parse::<TemplateName>()
            .ok()
            .map(|n| TemplateTag(n.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TemplateTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `name` or `name:tag` of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub name: TemplateName,
    /// `None`: the template itself, or its `latest` version.
    pub tag: Option<TemplateTag>,
}

impl TemplateRef {
    /// Parses `name[:tag]`; `None` when either part breaks the name rules.
    pub fn parse(value: &str) -> Option<TemplateRef> {
        let (name, tag) = match value.split_once(':') {
            Some((name, tag)) => (name, Some(TemplateTag::parse(tag)?)),
            None => (value, None),
        };
        Some(TemplateRef {
            name: name.parse().ok()?,
            tag,
        })
    }
}

impl From<TemplateName> for TemplateRef {
    fn from(name: TemplateName) -> TemplateRef {
        TemplateRef { name, tag: None }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_when_name_or_name_tag_then_parts() {
        let plain = TemplateRef::parse("app").unwrap();
        assert_eq!((plain.name.as_str(), plain.tag), ("app", None));
        let tagged = TemplateRef::parse("app:v1.2").unwrap();
        assert_eq!(tagged.tag.as_ref().map(TemplateTag::as_str), Some("v1.2"));
        assert_eq!(tagged.to_string(), "app:v1.2");
    }

    #[test]
    fn parse_when_a_part_breaks_the_rules_then_none() {
        for bad in ["", ":v1", "app:", "app:V1", "app:a:b", "a/b:1", "app:.x"] {
            assert!(TemplateRef::parse(bad).is_none(), "{bad}");
        }
    }
}
