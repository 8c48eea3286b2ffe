//! The content address of a template image version: a manifest with one
//! line per regular file of the version directory (`rootfs.ext4`, and any
//! metadata such as `start.json`), `"<sha256> <size> <name>\n"` sorted by
//! name, and its digest, the SHA-256 of that text. Hosts exchange templates
//! by it (docs/architecture.md, "Templates on every host").
//!
//! Hashing a root disk takes a while, so the manifest is kept beside the
//! version directory (`<images>/<t>/<version>.manifest`, outside what it
//! describes); image versions are never written after they are published.
use std::{
    io::Read,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

/// Longest file name a manifest may carry.
const MAX_NAME: usize = 128;
/// Most files a manifest may list.
const MAX_FILES: usize = 64;

/// One file of an image version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Every regular file of one image version, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    files: Vec<ManifestEntry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest line {line} is not '<sha256> <size> <name>'")]
    BadLine { line: usize },
    #[error("manifest file name '{0}' is not a plain file name")]
    BadName(String),
    #[error("manifest lists no files, more than {MAX_FILES}, or one twice, or unsorted")]
    BadList,
}

/// A name a manifest may carry: a plain file name, no dot first, no path.
pub fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Manifest {
    /// Hashes every regular file directly in `dir` (blocking: call it from
    /// `spawn_blocking`). Entries of other kinds are not part of an image.
    pub fn of_dir(dir: &Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !is_file_name(&name) {
                continue;
            }
            let (size, sha256) = hash_file(&entry.path())?;
            files.push(ManifestEntry { name, size, sha256 });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { files })
    }

    pub fn files(&self) -> &[ManifestEntry] {
        &self.files
    }

    pub fn file(&self, name: &str) -> Option<&ManifestEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The canonical text; the digest is its SHA-256.
    pub fn text(&self) -> String {
        self.files
            .iter()
            .map(|f| format!("{} {} {}\n", f.sha256, f.size, f.name))
            .collect()
    }

    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.text().as_bytes()))
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Parses a manifest received from another host; only the canonical
    /// form is accepted, so its digest is the digest of `text`.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let mut files = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let bad = ManifestError::BadLine { line: i + 1 };
            let mut parts = line.splitn(3, ' ');
            let (Some(sha256), Some(size), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad);
            };
            let hex_ok = sha256.len() == 64
                && sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            let size: u64 = match size.parse::<u64>() {
                Ok(n) if hex_ok && n.to_string() == size => n,
                _ => return Err(bad),
            };
            if !is_file_name(name) {
                return Err(ManifestError::BadName(name.to_owned()));
            }
            files.push(ManifestEntry {
                name: name.to_owned(),
                size,
                sha256: sha256.to_owned(),
            });
        }
        let sorted = files.windows(2).all(|w| w[0].name < w[1].name);
        if files.is_empty() || files.len() > MAX_FILES || !sorted {
            return Err(ManifestError::BadList);
        }
        let manifest = Self { files };
        if manifest.text() != text {
            return Err(ManifestError::BadLine { line: 0 });
        }
        Ok(manifest)
    }
}

/// Size and hex SHA-256 of a file, read in 1 MiB pieces.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the manifest of version directory `version_dir` is kept.
pub fn cache_path(version_dir: &Path) -> Option<PathBuf> {
    let version = version_dir.file_name()?.to_str()?;
    Some(version_dir.with_file_name(format!("{version}.manifest")))
}

/// The kept manifest of `version_dir`, if one is there and well formed.
pub fn cached(version_dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(cache_path(version_dir)?).ok()?;
    Manifest::parse(&text).ok()
}

/// The manifest of `version_dir`: the kept one, else hashed now and kept
/// (blocking).
pub fn load_or_compute(version_dir: &Path) -> std::io::Result<Manifest> {
    if let Some(manifest) = cached(version_dir) {
        return Ok(manifest);
    }
    let manifest = Manifest::of_dir(version_dir)?;
    if let Some(path) = cache_path(version_dir) {
        store(&path, &manifest)?;
    }
    Ok(manifest)
}

/// Writes a manifest file atomically (temp file + rename).
pub fn store(path: &Path, manifest: &Manifest) -> std::io::Result<()> {
    let tmp = path.with_extension("manifest-tmp");
    std::fs::write(&tmp, manifest.text())?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version_dir() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("v1");
        std::fs::create_dir(&dir).expect("dir");
        std::fs::write(dir.join("rootfs.ext4"), b"disk bytes").expect("rootfs");
        std::fs::write(dir.join("start.json"), b"{}").expect("start");
        std::fs::create_dir(dir.join("sub")).expect("sub");
        (root, dir)
    }

    #[test]
    fn of_dir_when_files_and_a_subdirectory_then_regular_files_sorted() {
        let (_root, dir) = version_dir();

        let manifest = Manifest::of_dir(&dir).expect("manifest");

        let names: Vec<&str> = manifest.files().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["rootfs.ext4", "start.json"]);
        assert_eq!(manifest.total_bytes(), 12);
        // sha256("{}")
        assert_eq!(
            manifest.file("start.json").expect("entry").sha256,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn digest_when_a_byte_changes_then_differs() {
        let (_root, dir) = version_dir();
        let before = Manifest::of_dir(&dir).expect("manifest").digest();

        std::fs::write(dir.join("start.json"), b"{ }").expect("edit");

        assert_ne!(Manifest::of_dir(&dir).expect("manifest").digest(), before);
    }

    #[test]
    fn parse_when_canonical_text_then_same_manifest_and_digest() {
        let (_root, dir) = version_dir();
        let manifest = Manifest::of_dir(&dir).expect("manifest");

        let parsed = Manifest::parse(&manifest.text()).expect("parse");

        assert_eq!(parsed, manifest);
        assert_eq!(parsed.digest(), manifest.digest());
    }

    #[test]
    fn parse_when_path_or_malformed_then_refused() {
        let sha = "a".repeat(64);
        for (text, case) in [
            (format!("{sha} 1 ../etc/passwd\n"), "parent path"),
            (format!("{sha} 1 a/b\n"), "nested path"),
            (format!("{sha} 1 .hidden\n"), "dot file"),
            (format!("{sha} x rootfs.ext4\n"), "size"),
            (format!("{sha} 01 rootfs.ext4\n"), "non-canonical size"),
            (format!("{} 1 rootfs.ext4\n", "A".repeat(64)), "upper hex"),
            (format!("{sha} 1 b\n{sha} 1 a\n"), "unsorted"),
            (format!("{sha} 1 a\n{sha} 1 a\n"), "twice"),
            (format!("{sha} 1 a"), "no newline"),
            (String::new(), "empty"),
        ] {
            assert!(Manifest::parse(&text).is_err(), "{case}");
        }
    }

    #[test]
    fn load_or_compute_when_called_twice_then_kept_beside_the_version() {
        let (_root, dir) = version_dir();

        let first = load_or_compute(&dir).expect("manifest");

        let kept = cache_path(&dir).expect("path");
        assert_eq!(kept, dir.with_file_name("v1.manifest"));
        assert!(kept.is_file());
        assert_eq!(cached(&dir), Some(first.clone()));
        // The kept file is not part of the version it describes.
        assert_eq!(Manifest::of_dir(&dir).expect("again"), first);
    }
}
