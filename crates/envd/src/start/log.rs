//! The start command's log file: stdout and stderr appended as they come,
//! kept under a cap by dropping the oldest half when it is reached.
use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

/// `/var/log/wrenn/start.log` in the guest.
pub const START_LOG: &str = "/var/log/wrenn/start.log";
/// 10 MiB.
pub const START_LOG_CAP: u64 = 10 << 20;

#[derive(Debug)]
pub struct CappedLog {
    path: PathBuf,
    cap: u64,
    file: Mutex<Option<File>>,
}

impl CappedLog {
    pub fn new(path: impl Into<PathBuf>, cap: u64) -> Self {
        Self {
            path: path.into(),
            cap: cap.max(2),
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`; past the cap, keeps only the newest half. Errors
    /// are dropped: a full disk must not stop the service.
    pub fn append(&self, bytes: &[u8]) {
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            *guard = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        let Some(file) = guard.as_mut() else {
            return;
        };
        let _ = file.write_all(bytes);
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > self.cap {
            let _ = keep_newest(file, len, self.cap / 2);
        }
    }

    /// The last `max` bytes, as text.
    pub fn tail(&self, max: u64) -> String {
        let Ok(mut file) = File::open(&self.path) else {
            return String::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Rewrites `file` (opened for append) to hold only its last `keep` bytes.
fn keep_newest(file: &mut File, len: u64, keep: u64) -> std::io::Result<()> {
    let mut newest = Vec::with_capacity(keep as usize);
    file.seek(SeekFrom::Start(len - keep))?;
    file.take(keep).read_to_end(&mut newest)?;
    file.set_len(0)?;
    file.write_all(&newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("envd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("start.log")
    }

    #[test]
    fn append_when_under_cap_then_everything_kept_in_order() {
        let log = CappedLog::new(temp_path("log-under"), 100);
        log.append(b"one\n");
        log.append(b"two\n");
        assert_eq!(log.tail(100), "one\ntwo\n");
        assert_eq!(log.tail(4), "two\n");
    }

    #[test]
    fn append_when_over_cap_then_newest_half_kept() {
        let log = CappedLog::new(temp_path("log-over"), 100);
        log.append(&[b'a'; 90]);
        log.append(&[b'b'; 20]);
        let kept = std::fs::read(log.path()).expect("log");
        assert_eq!(kept.len(), 50);
        assert!(kept.ends_with(&[b'b'; 20]));
        log.append(b"c");
        assert_eq!(std::fs::read(log.path()).expect("log").len(), 51);
    }
}
