//! Logical lines of a Dockerfile: comments and blank lines dropped,
//! backslash continuations joined, each line numbered where it starts.
//! Parser directives (`# syntax=`, `# escape=`) are comments here: the
//! escape character is always `\`.

/// One instruction's text and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    pub line: u32,
    pub text: String,
}

/// The logical lines of `source`, in order.
pub fn logical_lines(source: &str) -> Vec<LogicalLine> {
    let mut lines = Vec::new();
    let mut current: Option<LogicalLine> = None;
    for (index, raw) in source.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim_start();
        // A comment or blank line inside a continuation is skipped too,
        // as Docker does.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = raw.trim_end();
        let (body, continues) = match body.strip_suffix('\\') {
            Some(head) => (head, true),
            None => (body, false),
        };
        let entry = current.get_or_insert_with(|| LogicalLine {
            line: number,
            text: String::new(),
        });
        entry.text.push_str(body);
        if !continues {
            lines.extend(current.take());
        }
    }
    lines.extend(current);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_lines_when_continuations_and_comments_then_joined_and_numbered() {
        let source =
            "# syntax=docker/dockerfile:1\n\nFROM base\nRUN a \\\n  # note\n\n  b\r\nENV X=1 \\";
        let lines = logical_lines(source);
        let got: Vec<(u32, &str)> = lines.iter().map(|l| (l.line, l.text.as_str())).collect();
        assert_eq!(got, [(3, "FROM base"), (4, "RUN a   b"), (8, "ENV X=1 ")]);
    }
}
