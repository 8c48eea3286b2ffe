//! The guest's serial console (Firecracker's stdout) and Firecracker's own
//! messages (stderr), copied to `console.log` and kept as a bounded tail in
//! memory for error reasons.
use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader},
    sync::mpsc,
};

/// Lines kept in memory; the whole console is in the log file.
const TAIL_LINES: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct ConsoleTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl ConsoleTail {
    /// Starts copying `stdout` (guest serial) and `stderr` (prefixed
    /// `[firecracker]`) to `log_path` and to the tail.
    pub fn capture(
        stdout: Option<impl AsyncRead + Unpin + Send + 'static>,
        stderr: Option<impl AsyncRead + Unpin + Send + 'static>,
        log_path: PathBuf,
    ) -> Self {
        let tail = Self::default();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        if let Some(out) = stdout {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        if let Some(err) = stderr {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(format!("[firecracker] {line}"));
                }
            });
        }
        drop(tx);
        let writer = tail.clone();
        tokio::spawn(async move {
            let mut log = tokio::fs::File::create(&log_path).await.ok();
            while let Some(line) = rx.recv().await {
                if let Some(file) = log.as_mut() {
                    let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                }
                writer.push(line);
            }
        });
        tail
    }

    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `n` lines, joined with newlines.
    pub fn last(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let skip = lines.len().saturating_sub(n);
        lines
            .iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn capture_when_both_streams_then_tail_and_log_hold_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("console.log");
        let tail = ConsoleTail::capture(
            Some(&b"boot 1\nboot 2\n"[..]),
            Some(&b"warn\n"[..]),
            log.clone(),
        );
        for _ in 0..100 {
            if tail.last(10).lines().count() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let last = tail.last(10);
        assert!(last.contains("boot 1\nboot 2") && last.contains("[firecracker] warn"));
        assert_eq!(tail.last(1).lines().count(), 1);
    }
}
