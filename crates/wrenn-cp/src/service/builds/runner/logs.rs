//! A build's log as the runner writes it: lines numbered from 0, kept in
//! a buffer and appended to `template_build_logs` in batches (when the
//! buffer is large or old, and at every step's end).
use std::time::{Duration, Instant};

use crate::db::{self, template_builds::LogLine, Db};

const BATCH_LINES: usize = 200;
const BATCH_AGE: Duration = Duration::from_millis(300);
/// Longer lines are cut into pieces of this many bytes.
const MAX_LINE: usize = 8 * 1024;

pub(crate) struct Logs {
    db: Db,
    build_id: String,
    seq: i64,
    buffer: Vec<LogLine>,
    oldest: Option<Instant>,
}

impl Logs {
    pub fn new(db: Db, build_id: String) -> Self {
        Self {
            db,
            build_id,
            seq: 0,
            buffer: Vec::new(),
            oldest: None,
        }
    }

    /// A line of the runner's own (step headers, results).
    pub fn system(&mut self, step: usize, text: String) {
        self.push(step, "system", text);
    }

    pub fn push(&mut self, step: usize, stream: &str, text: String) {
        let mut rest = text.as_str();
        loop {
            let mut cut = rest.len().min(MAX_LINE);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (piece, tail) = rest.split_at(cut);
            self.buffer.push(LogLine {
                seq: self.seq,
                at: db::now_ms(),
                step: i64::try_from(step).unwrap_or(i64::MAX),
                stream: stream.to_owned(),
                text: piece.to_owned(),
            });
            self.seq += 1;
            self.oldest.get_or_insert_with(Instant::now);
            if tail.is_empty() {
                break;
            }
            rest = tail;
        }
    }

    /// Whether a batch is due.
    pub fn due(&self) -> bool {
        self.buffer.len() >= BATCH_LINES || self.oldest.is_some_and(|t| t.elapsed() >= BATCH_AGE)
    }

    pub async fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        if let Err(err) =
            db::template_builds::append_logs(&self.db, &self.build_id, &self.buffer).await
        {
            tracing::warn!(build_id = self.build_id, error = %err, "cannot append build log lines");
        }
        self.buffer.clear();
        self.oldest = None;
    }
}

/// Splits a stream's bytes into lines, keeping an unfinished one.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// The complete lines in `bytes` (after what came before).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.push(text(&line[..end]));
        }
        lines
    }

    /// What is left when the stream ended without a newline.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| text(&std::mem::take(&mut self.partial)))
    }
}

fn text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn feed_when_split_across_chunks_then_whole_lines() {
        let mut lines = Lines::default();
        assert_eq!(lines.feed(b"a\r\nb"), ["a"]);
        assert_eq!(lines.feed(b"c\n\nd"), ["bc", ""]);
        assert_eq!(lines.finish().as_deref(), Some("d"));
        assert_eq!(lines.finish(), None);
    }
}
