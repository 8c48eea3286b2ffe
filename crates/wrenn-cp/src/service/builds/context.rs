//! A build's context: the uploaded tar archive (plain or gzip, told by its
//! magic bytes), read into entries; the content hash of a `COPY`'s sources
//! (part of its cache key); and the small tar archives a `COPY` uploads
//! into the build VM. Only what builds need of tar: regular files,
//! directories and symbolic links (hard links become copies), ustar, GNU
//! long names and PAX paths. Pure: no I/O.
use std::collections::BTreeMap;
use std::io::Read;

use sha2::{Digest, Sha256};

/// What a context entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// One entry of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalised: relative, no `.`/`..`, no trailing `/`.
    pub path: String,
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// A file's bytes, a link's target.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("the build context is not a valid tar archive: {0}")]
    Invalid(String),
    #[error("'{0}' is not in the build context")]
    Missing(String),
}

/// The context's entries by path (a later entry of a path wins, as tar's
/// extraction would have it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: BTreeMap<String, Entry>,
}

const BLOCK: usize = 512;

impl Context {
    /// Reads a tar archive, gunzipping it first when it starts with gzip's
    /// magic.
    pub fn read(bytes: &[u8]) -> Result<Context, ContextError> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut plain)
                .map_err(|e| ContextError::Invalid(format!("gzip: {e}")))?;
            return Self::read_tar(&plain);
        }
        Self::read_tar(bytes)
    }

    fn read_tar(bytes: &[u8]) -> Result<Context, ContextError> {
        let mut entries = BTreeMap::new();
        let mut at = 0;
        let mut long_name: Option<String> = None;
        let mut long_link: Option<String> = None;
        while at + BLOCK <= bytes.len() {
            let header = &bytes[at..at + BLOCK];
            if header.iter().all(|b| *b == 0) {
                break;
            }
            if !checksum_ok(header) {
                return Err(ContextError::Invalid(format!(
                    "bad header checksum at byte {at}"
                )));
            }
            let size = usize::try_from(number(&header[124..136])?)
                .map_err(|_| ContextError::Invalid("entry too large".into()))?;
            let start = at + BLOCK;
            let end = start
                .checked_add(size)
                .filter(|e| *e <= bytes.len())
                .ok_or_else(|| ContextError::Invalid("truncated archive".into()))?;
            let data = &bytes[start..end];
            at = start + size.div_ceil(BLOCK) * BLOCK;
            let kind = header[156];
            match kind {
                b'L' => {
                    long_name = Some(text(data));
                    continue;
                }
                b'K' => {
                    long_link = Some(text(data));
                    continue;
                }
                b'x' => {
                    for (key, value) in pax(data) {
                        match key.as_str() {
                            "path" => long_name = Some(value),
                            "linkpath" => long_link = Some(value),
                            _ => {}
                        }
                    }
                    continue;
                }
                _ => {}
            }
            let name = long_name.take().unwrap_or_else(|| {
                let name = text(&header[0..100]);
                let prefix = if &header[257..262] == b"ustar" {
                    text(&header[345..500])
                } else {
                    String::new()
                };
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            });
            let link = long_link.take().unwrap_or_else(|| text(&header[157..257]));
            let mode = u32::try_from(number(&header[100..108])? & 0o7777).unwrap_or(0o644);
            let Some(path) = normalise(&name) else {
                continue;
            };
            let entry = match kind {
                b'0' | 0 | b'7' => Entry {
                    path: path.clone(),
                    kind: Kind::File,
                    mode,
                    data: data.to_vec(),
                },
                b'5' => Entry {
                    path: path.clone(),
                    kind: Kind::Dir,
                    mode,
                    data: Vec::new(),
                },
                b'2' => Entry {
                    path: path.clone(),
                    kind: Kind::Symlink,
                    mode: 0o777,
                    data: link.into_bytes(),
                },
                b'1' => match normalise(&link).and_then(|l| entries.get(&l)) {
                    Some(Entry { data, mode, .. }) => Entry {
                        path: path.clone(),
                        kind: Kind::File,
                        mode: *mode,
                        data: data.clone(),
                    },
                    None => continue,
                },
                // Devices, FIFOs, ...: not build inputs.
                _ => continue,
            };
            entries.insert(path, entry);
        }
        // What the loop could not read as a header: fine when it is the
        // zero padding, otherwise the input was never a tar (or was cut).
        let rest = &bytes[at.min(bytes.len())..];
        if rest.len() < BLOCK && rest.iter().any(|b| *b != 0) {
            return Err(ContextError::Invalid(
                "not a tar archive (or one cut short inside a header)".into(),
            ));
        }
        Ok(Context { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `other`'s entries under the directory `prefix` (normalised, no
    /// trailing `/`): one context made of several uploads, each in its own
    /// directory so that their paths cannot collide.
    pub fn insert_under(&mut self, prefix: &str, other: Context) {
        for (path, mut entry) in other.entries {
            let path = format!("{prefix}/{path}");
            entry.path.clone_from(&path);
            self.entries.insert(path, entry);
        }
    }

    /// The whole context as one tar archive (owner root, time 0).
    pub fn to_tar(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in self.entries.values() {
            write_entry(&mut out, &entry.path, entry);
        }
        out.resize(out.len() + 2 * BLOCK, 0);
        out
    }

    /// The entries a `COPY` source names: `(path relative to what is
    /// copied, entry)`, and whether the source is a directory. `.` is the
    /// whole context.
    pub fn select(&self, source: &str) -> Result<Selection<'_>, ContextError> {
        if source == "." {
            return Ok(Selection {
                dir: true,
                base: String::new(),
                entries: self.entries.values().map(|e| (e.path.clone(), e)).collect(),
            });
        }
        let prefix = format!("{source}/");
        let inside: Vec<(String, &Entry)> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, e)| (p[prefix.len()..].to_owned(), e))
            .collect();
        match self.entries.get(source) {
            Some(e) if e.kind != Kind::Dir => {
                let base = source.rsplit('/').next().unwrap_or(source).to_owned();
                Ok(Selection {
                    dir: false,
                    base: base.clone(),
                    entries: vec![(base, e)],
                })
            }
            Some(_) => Ok(Selection {
                dir: true,
                base: String::new(),
                entries: inside,
            }),
            None if !inside.is_empty() => Ok(Selection {
                dir: true,
                base: String::new(),
                entries: inside,
            }),
            None => Err(ContextError::Missing(source.to_owned())),
        }
    }

    /// SHA-256 over the entries every source selects (paths, kinds,
    /// permission bits, bytes), in order: a `COPY`'s content key.
    pub fn content_hash(&self, sources: &[String]) -> Result<[u8; 32], ContextError> {
        let mut hash = Sha256::new();
        for (i, source) in sources.iter().enumerate() {
            let selection = self.select(source)?;
            field(&mut hash, &(i as u64).to_be_bytes());
            field(&mut hash, &[u8::from(selection.dir)]);
            for (path, entry) in &selection.entries {
                field(&mut hash, path.as_bytes());
                field(&mut hash, &[entry.kind as u8]);
                field(&mut hash, &entry.mode.to_be_bytes());
                field(&mut hash, &entry.data);
            }
        }
        Ok(hash.finalize().into())
    }
}

/// What one `COPY` source selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<'a> {
    /// A directory (its contents are copied) rather than one file.
    pub dir: bool,
    /// A file source's base name.
    pub base: String,
    pub entries: Vec<(String, &'a Entry)>,
}

impl Selection<'_> {
    /// A tar archive of the selection (owner root, time 0).
    pub fn tar(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, entry) in &self.entries {
            if path.is_empty() {
                continue;
            }
            write_entry(&mut out, path, entry);
        }
        out.resize(out.len() + 2 * BLOCK, 0);
        out
    }

    /// The top-level names the archive holds (what `--chown` changes).
    pub fn top_level(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .entries
            .iter()
            .filter(|(p, _)| !p.is_empty())
            .map(|(p, _)| p.split('/').next().unwrap_or(p).to_owned())
            .collect();
        names.dedup();
        names
    }
}

fn field(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

fn write_entry(out: &mut Vec<u8>, path: &str, entry: &Entry) {
    let (flag, size, link) = match entry.kind {
        Kind::File => (b'0', entry.data.len(), ""),
        Kind::Dir => (b'5', 0, ""),
        Kind::Symlink => (b'2', 0, std::str::from_utf8(&entry.data).unwrap_or("")),
    };
    let name = if entry.kind == Kind::Dir {
        format!("{path}/")
    } else {
        path.to_owned()
    };
    if name.len() > 100 {
        long(out, b'L', &name);
    }
    if link.len() > 100 {
        long(out, b'K', link);
    }
    let mut header = [0u8; BLOCK];
    put(&mut header[0..100], name.as_bytes());
    octal(&mut header[100..108], u64::from(entry.mode));
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], size as u64);
    octal(&mut header[136..148], 0);
    header[156] = flag;
    put(&mut header[157..257], link.as_bytes());
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    seal(&mut header);
    out.extend_from_slice(&header);
    if entry.kind == Kind::File {
        out.extend_from_slice(&entry.data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
}

/// A GNU long-name (`L`) or long-link (`K`) pseudo-entry.
fn long(out: &mut Vec<u8>, flag: u8, value: &str) {
    let mut header = [0u8; BLOCK];
    put(&mut header[0..100], b"././@LongLink");
    octal(&mut header[100..108], 0o644);
    octal(&mut header[124..136], value.len() as u64 + 1);
    header[156] = flag;
    header[257..265].copy_from_slice(b"ustar  \0");
    seal(&mut header);
    out.extend_from_slice(&header);
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
}

fn put(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    put(field, text.as_bytes());
}

fn seal(header: &mut [u8; BLOCK]) {
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
}

fn checksum_ok(header: &[u8]) -> bool {
    let Ok(stored) = number(&header[148..156]) else {
        return false;
    };
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == stored
}

/// An octal field (or GNU base-256 when its high bit is set).
fn number(field: &[u8]) -> Result<u64, ContextError> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(*b)))
                .ok_or_else(|| ContextError::Invalid("number out of range".into()))?;
        }
        return Ok(value);
    }
    let text = String::from_utf8_lossy(field);
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| ContextError::Invalid(format!("bad number '{text}'")))
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// PAX records: `<len> <key>=<value>\n`.
fn pax(data: &[u8]) -> Vec<(String, String)> {
    let mut records = Vec::new();
    let mut rest = data;
    while let Some(space) = rest.iter().position(|b| *b == b' ') {
        let Ok(len) = std::str::from_utf8(&rest[..space])
            .unwrap_or("")
            .parse::<usize>()
        else {
            break;
        };
        if len <= space || len > rest.len() {
            break;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            records.push((
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                String::from_utf8_lossy(&record[eq + 1..]).into_owned(),
            ));
        }
        rest = &rest[len..];
    }
    records
}

/// A path inside the context, or `None` for the root or one leaving it.
fn normalise(name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &[u8], mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::File,
            mode,
            data: data.to_vec(),
        }
    }

    fn archive(entries: &[Entry]) -> Vec<u8> {
        Selection {
            dir: true,
            base: String::new(),
            entries: entries.iter().map(|e| (e.path.clone(), e)).collect(),
        }
        .tar()
    }

    #[test]
    fn read_when_written_then_same_entries_including_long_names() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let entries = [
            file("app/main.py", b"print(1)\n", 0o755),
            file(&long, b"x", 0o644),
            Entry {
                path: "app/link".into(),
                kind: Kind::Symlink,
                mode: 0o777,
                data: b"main.py".to_vec(),
            },
        ];
        let context = Context::read(&archive(&entries)).expect("read");
        let selected = context.select("app").expect("app");
        assert!(selected.dir);
        let names: Vec<&str> = selected.entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["link", "main.py"]);
        assert_eq!(selected.entries[1].1.mode, 0o755);
        assert_eq!(context.select(&long).expect("long").entries[0].1.data, b"x");
    }

    #[test]
    fn read_when_gzipped_then_same_as_plain() {
        use std::io::Write;
        let plain = archive(&[file("a.txt", b"hello", 0o644)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(Context::read(&gz), Context::read(&plain));
    }

    #[test]
    fn read_when_garbage_then_invalid_not_panic() {
        assert!(matches!(
            Context::read(&[7u8; 1024]),
            Err(ContextError::Invalid(_))
        ));
        assert!(Context::read(&[]).expect("empty").is_empty());
        // Shorter than one header: text, not a tar.
        assert!(matches!(
            Context::read(b"not a tar at all, really"),
            Err(ContextError::Invalid(_))
        ));
        assert!(Context::read(&[0u8; 100]).expect("padding").is_empty());
    }

    #[test]
    fn select_when_file_or_missing_then_base_name_or_missing() {
        let context = Context::read(&archive(&[file("src/a.txt", b"1", 0o644)])).expect("read");
        let one = context.select("src/a.txt").expect("file");
        assert!(!one.dir);
        assert_eq!(one.base, "a.txt");
        assert_eq!(
            context.select("nope"),
            Err(ContextError::Missing("nope".into()))
        );
        assert_eq!(context.select(".").expect("all").entries.len(), 1);
    }

    #[test]
    fn content_hash_when_bytes_or_mode_change_then_differs() {
        let hash = |e: Entry| {
            Context::read(&archive(&[e]))
                .expect("read")
                .content_hash(&["f".into()])
                .expect("hash")
        };
        let base = hash(file("f", b"1", 0o644));
        assert_eq!(base, hash(file("f", b"1", 0o644)));
        assert_ne!(base, hash(file("f", b"2", 0o644)));
        assert_ne!(base, hash(file("f", b"1", 0o755)));
    }
}
