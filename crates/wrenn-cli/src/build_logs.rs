//! A build's log stream (`GET /v1/templates/builds/{id}/logs`, NDJSON) as
//! the CLI reads and prints it: the two event kinds, the splitting of a
//! byte stream into lines, and the human rendering of a line with the step
//! it belongs to, its stream and the time since the command began.

use std::time::Duration;

use serde::Deserialize;

use crate::responses::{BuildFailure, BuildStatus};

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LogEvent {
    Log(LogLine),
    /// The build ended; the server closes the stream after it.
    End {
        status: BuildStatus,
        #[serde(default)]
        error: Option<BuildFailure>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogLine {
    pub seq: u64,
    #[serde(default)]
    pub step: Option<u32>,
    pub stream: LogStream,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    System,
}

/// Parses one line; blank lines (keep-alives) are `None`, and so is an
/// event of a type this CLI does not know (a newer server's), so that the
/// stream goes on.
pub fn parse_line(line: &[u8]) -> Result<Option<LogEvent>, serde_json::Error> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_slice(trimmed)?;
    match value.get("type").and_then(|t| t.as_str()) {
        Some("log" | "end") => serde_json::from_value(value).map(Some),
        _ => Ok(None),
    }
}

/// Splits chunks of a byte stream into complete lines.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Adds a chunk; returns the lines it completed, without their `\n`.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.partial.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(at) = self.partial.iter().position(|&b| b == b'\n') {
            let rest = self.partial.split_off(at + 1);
            let mut line = std::mem::replace(&mut self.partial, rest);
            line.pop();
            lines.push(line);
        }
        lines
    }

    /// What is left when the stream ends (a last line without `\n`).
    pub fn finish(self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then_some(self.partial)
    }
}

/// A log line for a person: `[  12.3s] ` when the elapsed time is known
/// (a live build), then the server's own text for system lines (step
/// headers such as `[3/7] RUN ...`), or `#STEP | text` for the step's
/// stdout and `#STEP ! text` for its stderr.
pub fn render(line: &LogLine, elapsed: Option<Duration>) -> String {
    let time = elapsed
        .map(|e| format!("[{:>6.1}s] ", e.as_secs_f64()))
        .unwrap_or_default();
    let text = line.text.trim_end_matches(['\n', '\r']);
    let step = line.step.map(|s| format!("#{s}")).unwrap_or_default();
    match line.stream {
        LogStream::System => format!("{time}{text}"),
        LogStream::Stdout => format!("{time}{step:>4} | {text}"),
        LogStream::Stderr => format!("{time}{step:>4} ! {text}"),
    }
}

/// The one-line reason of a failed build: the failure's message, the
/// Dockerfile line, the exit code and the stable code.
pub fn describe_failure(failure: &BuildFailure) -> String {
    let mut text = failure.message.clone();
    if let Some(line) = failure.line {
        text.push_str(&format!(" (Dockerfile line {line}"));
        if let Some(code) = failure.exit_code {
            text.push_str(&format!(", exit code {code}"));
        }
        text.push(')');
    } else if let Some(code) = failure.exit_code {
        text.push_str(&format!(" (exit code {code})"));
    }
    text.push_str(&format!(" [{}]", failure.code));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stream: LogStream, text: &str) -> LogLine {
        LogLine {
            seq: 1,
            step: Some(3),
            stream,
            text: text.into(),
        }
    }

    #[test]
    fn parse_line_when_log_and_end_then_typed() -> Result<(), serde_json::Error> {
        let log = parse_line(
            br#"{"type":"log","seq":4,"at":"2026-01-01T00:00:00Z","step":3,"stream":"stdout","text":"hi"}"#,
        )?;
        let end = parse_line(
            br#"{"type":"end","status":"failed","error":{"code":"step_failed","message":"m","line":5,"exit_code":2}}"#,
        )?;
        assert!(matches!(log, Some(LogEvent::Log(LogLine { seq: 4, .. }))));
        let Some(LogEvent::End { status, error }) = end else {
            panic!("expected end, got {end:?}");
        };
        assert_eq!(status, BuildStatus::Failed);
        assert_eq!(error.and_then(|e| e.exit_code), Some(2));
        Ok(())
    }

    #[test]
    fn parse_line_when_blank_or_unknown_type_then_skipped() -> Result<(), serde_json::Error> {
        assert_eq!(parse_line(b"  \r")?, None);
        assert_eq!(parse_line(br#"{"type":"progress","pct":40}"#)?, None);
        assert!(parse_line(b"{not json").is_err());
        Ok(())
    }

    #[test]
    fn lines_when_split_across_chunks_then_joined() {
        let mut lines = Lines::default();
        assert!(lines.push(b"{\"a\"").is_empty());
        assert_eq!(
            lines.push(b":1}\n{\"b\":2}\n{\"c\""),
            [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]
        );
        assert_eq!(lines.finish(), Some(b"{\"c\"".to_vec()));
    }

    #[test]
    fn render_when_streams_then_step_and_stream_marked() {
        let elapsed = Some(Duration::from_millis(12_340));
        assert_eq!(
            render(&line(LogStream::System, "[3/7] RUN make"), elapsed),
            "[  12.3s] [3/7] RUN make"
        );
        assert_eq!(render(&line(LogStream::Stdout, "ok\n"), None), "  #3 | ok");
        assert_eq!(
            render(&line(LogStream::Stderr, "warn"), None),
            "  #3 ! warn"
        );
    }

    #[test]
    fn describe_failure_when_line_and_exit_code_then_both_named() {
        let failure = BuildFailure {
            code: "step_failed".into(),
            message: "RUN exit 3 failed".into(),
            line: Some(6),
            exit_code: Some(3),
        };
        assert_eq!(
            describe_failure(&failure),
            "RUN exit 3 failed (Dockerfile line 6, exit code 3) [step_failed]"
        );
    }
}
