//! User-defined file metadata, as E2B's envd keeps it: `X-Metadata-<key>:
//! <value>` headers on an upload become `user.e2b.<key>` extended attributes
//! of the file, and every `EntryInfo` (upload answer, `Stat`, `ListDir`,
//! `Move`) reports the file's `user.e2b.*` attributes as `metadata`.
//!
//! An upload always replaces the whole set (keys it does not name are
//! removed), so overwriting a file does not keep stale metadata: `O_TRUNC`
//! empties the body but leaves extended attributes alone.
#![allow(
    unsafe_code,
    reason = "the xattr system calls through libc; each block has a SAFETY note"
)]

use std::{
    collections::BTreeMap,
    ffi::CString,
    io,
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    path::Path,
};

use axum::http::HeaderMap;

/// Header prefix of upload metadata (matched case-insensitively).
const HEADER_PREFIX: &str = "x-metadata-";

/// The xattr namespace: `user.` is what unprivileged files may carry,
/// `e2b.` keeps our keys apart from other tools' (E2B's choice).
pub const XATTR_PREFIX: &str = "user.e2b.";

/// Longest key: the VFS limits a whole xattr name to 255 bytes.
const MAX_KEY_LEN: usize = 255 - XATTR_PREFIX.len();

/// Largest whole set (names with prefix plus values): ext4 keeps an inode's
/// extended attributes in one 4 KiB block.
const MAX_TOTAL_LEN: usize = 4096;

/// A file's metadata, by key.
pub type Metadata = BTreeMap<String, String>;

/// Why an upload's metadata was refused (a `400`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidMetadata {
    #[error("metadata key {0:?} is longer than {MAX_KEY_LEN} bytes")]
    KeyTooLong(String),
    #[error("metadata {what} contains the non-printable byte 0x{byte:02x}")]
    NotPrintable { what: String, byte: u8 },
    #[error("metadata takes {0} bytes, more than {MAX_TOTAL_LEN}")]
    TooLarge(usize),
}

/// The `X-Metadata-*` headers, prefix stripped and keys lowercased (the
/// first value of a repeated header wins; an empty key is ignored).
pub fn from_headers(headers: &HeaderMap) -> Metadata {
    let mut out = Metadata::new();
    for name in headers.keys() {
        let Some(key) = name
            .as_str()
            .get(..HEADER_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(HEADER_PREFIX))
            .map(|_| name.as_str()[HEADER_PREFIX.len()..].to_ascii_lowercase())
        else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        if let Some(value) = headers.get(name) {
            out.entry(key)
                .or_insert_with(|| String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
    }
    out
}

/// Checks keys and values are printable US-ASCII and the set fits on disk.
pub fn validate(metadata: &Metadata) -> Result<(), InvalidMetadata> {
    let mut total = 0;
    for (key, value) in metadata {
        if key.len() > MAX_KEY_LEN {
            return Err(InvalidMetadata::KeyTooLong(key.clone()));
        }
        printable("key", key)?;
        printable(&format!("value for key {key:?}"), value)?;
        total += XATTR_PREFIX.len() + key.len() + value.len();
    }
    if total > MAX_TOTAL_LEN {
        return Err(InvalidMetadata::TooLarge(total));
    }
    Ok(())
}

fn printable(what: &str, text: &str) -> Result<(), InvalidMetadata> {
    match text.bytes().find(|b| !(0x20..=0x7e).contains(b)) {
        Some(byte) => Err(InvalidMetadata::NotPrintable {
            what: what.to_owned(),
            byte,
        }),
        None => Ok(()),
    }
}

/// Whether an error means the file system keeps no extended attributes
/// (`/proc`, `/sys`, some tmpfs): metadata is then skipped, not an error.
pub fn unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOTSUP))
}

/// Replaces the open file's metadata with `metadata`.
pub fn write(file: &std::fs::File, metadata: &Metadata) -> io::Result<()> {
    let fd = file.as_raw_fd();
    for name in list(|buf| {
        // SAFETY: `buf` is a valid writable buffer of the length passed.
        unsafe { libc::flistxattr(fd, buf.as_mut_ptr().cast(), buf.len()) }
    })? {
        let Some(key) = name.strip_prefix(XATTR_PREFIX) else {
            continue;
        };
        if metadata.contains_key(key) {
            continue;
        }
        let cname = c_name(&name)?;
        // SAFETY: `cname` is a NUL-terminated string that outlives the call.
        if unsafe { libc::fremovexattr(fd, cname.as_ptr()) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENODATA) {
                return Err(err);
            }
        }
    }
    for (key, value) in metadata {
        let cname = c_name(&format!("{XATTR_PREFIX}{key}"))?;
        // SAFETY: the name is NUL-terminated, the value pointer and length
        // describe a live byte slice.
        let rc =
            unsafe { libc::fsetxattr(fd, cname.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The metadata of the file at `path` (following a symlink, as E2B's envd
/// does); `None` when it has none or the file system keeps no attributes.
/// Entries that are not UTF-8 (set by hand inside the sandbox) are skipped.
pub fn read(path: &Path) -> io::Result<Option<Metadata>> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let names = match list(|buf| {
        // SAFETY: `cpath` is NUL-terminated; `buf` is writable for its length.
        unsafe { libc::listxattr(cpath.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    }) {
        Ok(names) => names,
        Err(err) if unsupported(&err) => return Ok(None),
        Err(err) => return Err(err),
    };
    let mut out = Metadata::new();
    for name in names {
        let Some(key) = name.strip_prefix(XATTR_PREFIX) else {
            continue;
        };
        let cname = c_name(&name)?;
        let value = match sized_read(|buf| {
            // SAFETY: both strings are NUL-terminated; `buf` is writable for
            // its length.
            unsafe {
                libc::getxattr(
                    cpath.as_ptr(),
                    cname.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            }
        }) {
            Ok(value) => value,
            Err(err) if err.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(err) => return Err(err),
        };
        if let Ok(value) = String::from_utf8(value) {
            out.insert(key.to_owned(), value);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Reads the NUL-separated name list an `*listxattr` call fills in.
fn list(call: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<String>> {
    let raw = sized_read(call)?;
    Ok(raw
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .filter_map(|n| std::str::from_utf8(n).ok().map(str::to_owned))
        .collect())
}

/// Runs a size-then-fill xattr call, retrying when the value grew between
/// the two calls.
fn sized_read(mut call: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let size = call(&mut []);
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(&mut buf);
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn from_headers_when_prefixed_then_lowercased_keys() {
        let mut headers = HeaderMap::new();
        headers.insert("X-Metadata-Author", HeaderValue::from_static("mish"));
        headers.insert("x-metadata-PURPOSE", HeaderValue::from_static("upload"));
        headers.insert("X-Metadata-", HeaderValue::from_static("ignored"));
        headers.insert("Content-Type", HeaderValue::from_static("text/plain"));
        let got = from_headers(&headers);
        assert_eq!(
            got,
            Metadata::from([
                ("author".into(), "mish".into()),
                ("purpose".into(), "upload".into())
            ])
        );
    }

    #[test]
    fn from_headers_when_repeated_then_first_value_wins() {
        let mut headers = HeaderMap::new();
        headers.append("X-Metadata-Author", HeaderValue::from_static("first"));
        headers.append("X-Metadata-Author", HeaderValue::from_static("second"));
        assert_eq!(from_headers(&headers)["author"], "first");
    }

    #[test]
    fn validate_when_control_byte_or_too_large_then_refused() {
        let ok = Metadata::from([("k".into(), "v v".into())]);
        assert_eq!(validate(&ok), Ok(()));
        let newline = Metadata::from([("k".into(), "a\nb".into())]);
        assert!(matches!(
            validate(&newline),
            Err(InvalidMetadata::NotPrintable { byte: b'\n', .. })
        ));
        let long_key = Metadata::from([("k".repeat(MAX_KEY_LEN + 1), String::new())]);
        assert!(matches!(
            validate(&long_key),
            Err(InvalidMetadata::KeyTooLong(_))
        ));
        let big = Metadata::from([
            ("a".into(), "x".repeat(3000)),
            ("b".into(), "y".repeat(3000)),
        ]);
        assert!(matches!(validate(&big), Err(InvalidMetadata::TooLarge(_))));
    }

    #[test]
    fn write_then_read_when_replaced_then_stale_keys_removed() {
        let dir = std::env::temp_dir().join(format!("envd-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("f");
        let file = std::fs::File::create(&path).expect("create");
        let first = Metadata::from([
            ("author".into(), "mish".into()),
            ("purpose".into(), "upload".into()),
        ]);
        match write(&file, &first) {
            Err(err) if unsupported(&err) => {
                eprintln!("skipped: {} keeps no user xattrs", dir.display());
                return;
            }
            other => other.expect("write metadata"),
        }
        assert_eq!(read(&path).expect("read"), Some(first));
        let second = Metadata::from([("purpose".into(), "again".into())]);
        write(&file, &second).expect("replace");
        assert_eq!(read(&path).expect("read"), Some(second));
        write(&file, &Metadata::new()).expect("clear");
        assert_eq!(read(&path).expect("read"), None);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
