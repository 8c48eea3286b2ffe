//! Just enough `multipart/form-data` for a build upload: the boundary from
//! the content type, then each part's name and bytes. The body is already
//! in memory (its size capped by the caller).

/// One part: its `name` from `Content-Disposition`, its content type and
/// its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub content_type: Option<String>,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("the request must be multipart/form-data with a boundary")]
    NotMultipart,
    #[error("the multipart body is malformed: {0}")]
    Malformed(&'static str),
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut parts = content_type.split(';');
    let kind = parts.next().unwrap_or("").trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or(MultipartError::NotMultipart)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let last = haystack.len() - needle.len();
    let mut at = from;
    while at <= last {
        // Skip to the next occurrence of the first byte (fast), then compare.
        let skip = haystack[at..=last].iter().position(|b| *b == needle[0])?;
        at += skip;
        if &haystack[at..at + needle.len()] == needle {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The parts of `body`.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0)
        .ok_or(MultipartError::Malformed("no boundary"))?
        + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err(MultipartError::Malformed(
                "boundary not followed by a line end",
            ));
        }
        at += 2;
        let headers_end = find(body, b"\r\n\r\n", at)
            .ok_or(MultipartError::Malformed("part headers never end"))?;
        let headers = String::from_utf8_lossy(&body[at..headers_end]);
        let start = headers_end + 4;
        let end = find(body, next.as_bytes(), start)
            .ok_or(MultipartError::Malformed("a part never ends"))?;
        let mut name = None;
        let mut content_type = None;
        for line in headers.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                name = value
                    .split(';')
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("name"))
                    .map(|(_, v)| v.trim().trim_matches('"').to_owned());
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            }
        }
        parts.push(Part {
            name: name.ok_or(MultipartError::Malformed("a part has no name"))?,
            content_type,
            data: &body[start..end],
        });
        at = end + next.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_when_two_parts_then_names_and_bytes() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"spec\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--XX\r\nContent-Disposition: form-data; name=\"context\"; filename=\"c.tar\"\r\n\r\n\x00\r\n\x01\r\n--XX--\r\n";
        let parts = parse(body, "XX").expect("parse");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "spec");
        assert_eq!(parts[0].data, b"{\"a\":1}");
        assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(parts[1].data, b"\x00\r\n\x01");
    }

    #[test]
    fn parse_when_truncated_then_malformed() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{";
        assert!(matches!(
            parse(body, "XX"),
            Err(MultipartError::Malformed(_))
        ));
        assert_eq!(
            boundary("application/json"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"ab c\"").as_deref(),
            Ok("ab c")
        );
    }
}
