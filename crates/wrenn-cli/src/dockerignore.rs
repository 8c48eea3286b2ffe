//! `.dockerignore` rules, Docker's way: one pattern a line (`#` comments and
//! blank lines skipped, surrounding spaces trimmed), paths relative to the
//! context root (a leading `/` is the root), `*` and `?` within one path
//! part, `**` across parts, `!` re-includes, and the last pattern that
//! matches a path decides. A pattern that matches a directory excludes
//! everything under it unless a later `!` pattern brings a path back.

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error(".dockerignore line {line}: invalid pattern {pattern:?}")]
    Pattern {
        line: usize,
        pattern: String,
        #[source]
        source: globset::Error,
    },
}

#[derive(Debug, Clone)]
struct Rule {
    glob: GlobMatcher,
    /// `!pattern`: matching paths are kept.
    exception: bool,
}

/// The parsed rules of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// Parses the file's text; an unparseable pattern names its line.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(pattern);
            if cleaned.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|source| IgnoreError::Pattern {
                    line: index + 1,
                    pattern: pattern.to_owned(),
                    source,
                })?
                .compile_matcher();
            rules.push(Rule { glob, exception });
        }
        Ok(Self { rules })
    }

    /// Whether any `!` rule exists: then an excluded directory must still be
    /// walked, since something under it may be brought back.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }

    /// Whether `path` (relative, `/`-separated, no leading `/`) is left out
    /// of the context. A rule matches a path when it matches the path or
    /// one of its parent directories.
    pub fn is_excluded(&self, path: &str) -> bool {
        let mut excluded = false;
        for rule in &self.rules {
            if rule.exception == excluded && matches_or_parent(&rule.glob, path) {
                excluded = !rule.exception;
            }
        }
        excluded
    }
}

fn matches_or_parent(glob: &GlobMatcher, path: &str) -> bool {
    if glob.is_match(path) {
        return true;
    }
    path.match_indices('/')
        .any(|(at, _)| glob.is_match(&path[..at]))
}

/// Go's `filepath.Clean` as Docker applies it to patterns, then the leading
/// `/` dropped: `./a//b/` and `/a/b` both become `a/b`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).expect("valid rules")
    }

    #[test]
    fn is_excluded_when_star_then_one_part_only() {
        let r = rules("*.log\n");
        assert!(r.is_excluded("a.log"));
        assert!(!r.is_excluded("dir/a.log"));
    }

    #[test]
    fn is_excluded_when_double_star_then_any_depth() {
        let r = rules("**/*.log\n");
        assert!(r.is_excluded("a.log"));
        assert!(r.is_excluded("x/y/a.log"));
        assert!(!r.is_excluded("x/y/a.txt"));
    }

    #[test]
    fn is_excluded_when_directory_matched_then_children_too() {
        let r = rules("# build output\n\n  /target/  \nnode_modules\n");
        assert!(r.is_excluded("target"));
        assert!(r.is_excluded("target/debug/x"));
        assert!(r.is_excluded("node_modules/a/b.js"));
        assert!(!r.is_excluded("src/target.rs"));
    }

    #[test]
    fn is_excluded_when_exception_after_then_last_rule_wins() {
        let r = rules("*.md\n!README.md\n");
        assert!(r.is_excluded("CHANGES.md"));
        assert!(!r.is_excluded("README.md"));
        assert!(r.has_exceptions());
        let r = rules("!README.md\n*.md\n");
        assert!(r.is_excluded("README.md"));
    }

    #[test]
    fn is_excluded_when_exception_inside_excluded_dir_then_kept() {
        let r = rules("docs\n!docs/keep.txt\n");
        assert!(r.is_excluded("docs/other.txt"));
        assert!(!r.is_excluded("docs/keep.txt"));
    }

    #[test]
    fn clean_when_dots_and_slashes_then_normalised() {
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("/a/../b"), "b");
        assert_eq!(clean("."), "");
    }

    #[test]
    fn parse_when_bad_pattern_then_line_named() {
        let err = IgnoreRules::parse("ok\n[unclosed\n").err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("line 2"), "{text}");
    }
}
