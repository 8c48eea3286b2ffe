//! Mapping a URL path to a file inside the dashboard directory, and never
//! outside it: the path is percent-decoded, then refused when a segment is
//! `.`, `..`, hidden or holds a backslash or NUL; what is read must still
//! lie inside the directory once symbolic links are resolved.
use std::path::{Path, PathBuf};

/// The relative file path that `url_path` names; `None` when it is not one
/// the dashboard serves. `/` and `/dir/` name `index.html` files.
pub fn relative(url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let mut relative = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(['\\', '\0']) {
            return None;
        }
        relative.push(segment);
    }
    if decoded.ends_with('/') {
        relative.push("index.html");
    }
    Some(relative)
}

/// Whether `relative` is a client route (no extension) rather than an asset.
pub fn is_page(relative: &Path) -> bool {
    relative.as_os_str().is_empty()
        || relative.extension().is_none()
        || relative
            .file_name()
            .is_some_and(|name| name == "index.html")
}

/// The contents of `relative` under `root` when it is a regular file that
/// really lies inside `root`.
pub async fn read_inside(root: &Path, relative: &Path) -> Option<Vec<u8>> {
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let mut path = tokio::fs::canonicalize(root.join(relative)).await.ok()?;
    if !path.starts_with(&root) {
        return None;
    }
    if tokio::fs::metadata(&path).await.ok()?.is_dir() {
        path.push("index.html");
    }
    let path = tokio::fs::canonicalize(path).await.ok()?;
    if !path.starts_with(&root) || !tokio::fs::metadata(&path).await.ok()?.is_file() {
        return None;
    }
    tokio::fs::read(path).await.ok()
}

/// The `Content-Type` of a file by its extension.
pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// `%XX` decoding; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_when_traversal_or_hidden_then_none() {
        for path in [
            "/../etc/passwd",
            "/%2e%2e/x",
            "/a/..%2fb",
            "/.stamp",
            "/a\\b",
            "/%00",
            "/%zz",
        ] {
            assert_eq!(relative(path), None, "{path}");
        }
    }

    #[test]
    fn relative_when_directory_then_index() {
        assert_eq!(relative("/"), Some(PathBuf::from("index.html")));
        assert_eq!(
            relative("/_app/immutable/x%20y.js"),
            Some(PathBuf::from("_app/immutable/x y.js"))
        );
    }

    #[test]
    fn is_page_when_extension_then_asset() {
        assert!(is_page(Path::new("sandboxes/sbx_1")));
        assert!(!is_page(Path::new("favicon.png")));
    }

    #[test]
    fn content_type_when_known_then_named() {
        assert_eq!(
            content_type(Path::new("a.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.bin")), "application/octet-stream");
    }
}
