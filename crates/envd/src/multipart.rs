//! A streaming `multipart/form-data` parser: feed body chunks, pull part
//! headers and data slices. Memory is bounded by the chunk size plus one
//! boundary and one header block, whatever the size of the parts.
use bytes::{Buf, Bytes, BytesMut};

/// Largest header block of one part.
const MAX_HEADERS: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MultipartError {
    /// No usable `boundary=` parameter.
    #[error("missing or invalid multipart boundary")]
    BadBoundary,
    /// A part's header block is larger than we accept.
    #[error("part headers exceed {MAX_HEADERS} bytes")]
    HeadersTooLarge,
    /// A header block we cannot read.
    #[error("malformed part headers")]
    BadHeaders,
    /// Bytes after a boundary that are neither CRLF nor `--`.
    #[error("malformed boundary line")]
    BadBoundaryLine,
    /// The body ended before the closing boundary.
    #[error("body ended before the closing boundary")]
    Incomplete,
}

/// The headers of one part that we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartHeaders {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    PartStart(PartHeaders),
    Data(Bytes),
    PartEnd,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble,
    AfterBoundary,
    Headers,
    Body,
    Done,
}

#[derive(Debug)]
pub struct MultipartParser {
    /// `\r\n--boundary`
    delimiter: Vec<u8>,
    buf: BytesMut,
    state: State,
}

/// The boundary from a `multipart/form-data; boundary=...` content type.
pub fn boundary_from_content_type(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let essence = parts.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

impl MultipartParser {
    pub fn new(boundary: &str) -> Result<Self, MultipartError> {
        if boundary.is_empty() || boundary.len() > 200 || boundary.contains(['\r', '\n']) {
            return Err(MultipartError::BadBoundary);
        }
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let mut buf = BytesMut::new();
        // A leading CRLF lets the first boundary match like every other one.
        buf.extend_from_slice(b"\r\n");
        Ok(Self {
            delimiter,
            buf,
            state: State::Preamble,
        })
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.state != State::Done {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next event, or `None` until more input arrives.
    pub fn next_event(&mut self) -> Result<Option<Event>, MultipartError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Preamble => match find(&self.buf, &self.delimiter) {
                    Some(at) => {
                        self.buf.advance(at + self.delimiter.len());
                        self.state = State::AfterBoundary;
                    }
                    None => {
                        let keep = self.delimiter.len() - 1;
                        if self.buf.len() > keep {
                            let drop = self.buf.len() - keep;
                            self.buf.advance(drop);
                        }
                        return Ok(None);
                    }
                },
                State::AfterBoundary => {
                    // Transport padding (spaces, tabs) may follow a boundary.
                    let padding = self
                        .buf
                        .iter()
                        .take_while(|b| **b == b' ' || **b == b'\t')
                        .count();
                    self.buf.advance(padding);
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    match &self.buf[..2] {
                        b"--" => {
                            self.state = State::Done;
                            self.buf.clear();
                            return Ok(Some(Event::Done));
                        }
                        b"\r\n" => {
                            self.buf.advance(2);
                            self.state = State::Headers;
                        }
                        _ => return Err(MultipartError::BadBoundaryLine),
                    }
                }
                State::Headers => {
                    // An empty header block is allowed: the body starts at once.
                    let end = if self.buf.starts_with(b"\r\n") {
                        Some(0)
                    } else {
                        find(&self.buf, b"\r\n\r\n").map(|at| at + 2)
                    };
                    let Some(end) = end else {
                        if self.buf.len() > MAX_HEADERS {
                            return Err(MultipartError::HeadersTooLarge);
                        }
                        return Ok(None);
                    };
                    if end > MAX_HEADERS {
                        return Err(MultipartError::HeadersTooLarge);
                    }
                    let block = self.buf.split_to(end);
                    self.buf.advance(2);
                    let headers = parse_headers(&block)?;
                    self.state = State::Body;
                    return Ok(Some(Event::PartStart(headers)));
                }
                State::Body => match find(&self.buf, &self.delimiter) {
                    Some(0) => {
                        self.buf.advance(self.delimiter.len());
                        self.state = State::AfterBoundary;
                        return Ok(Some(Event::PartEnd));
                    }
                    Some(at) => return Ok(Some(Event::Data(self.buf.split_to(at).freeze()))),
                    None => {
                        // Everything but a possible partial delimiter is data.
                        let safe = self.buf.len().saturating_sub(self.delimiter.len() - 1);
                        if safe == 0 {
                            return Ok(None);
                        }
                        return Ok(Some(Event::Data(self.buf.split_to(safe).freeze())));
                    }
                },
            }
        }
    }

    /// Call at the end of the body.
    pub fn finish(&self) -> Result<(), MultipartError> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(MultipartError::Incomplete),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = haystack.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match haystack[i..=last_start].iter().position(|b| *b == first) {
            None => return None,
            Some(offset) => {
                i += offset;
                if &haystack[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

fn parse_headers(block: &[u8]) -> Result<PartHeaders, MultipartError> {
    let text = std::str::from_utf8(block).map_err(|_| MultipartError::BadHeaders)?;
    let mut headers = PartHeaders::default();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(MultipartError::BadHeaders)?;
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            for (key, val) in disposition_params(value) {
                match key.as_str() {
                    "name" => headers.name = Some(val),
                    "filename" => headers.filename = Some(val),
                    _ => {}
                }
            }
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            headers.content_type = Some(value.to_string());
        }
    }
    Ok(headers)
}

/// `form-data; name="file"; filename="a \"b\".txt"` → [(name, file), ...]
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value.split_once(';').map(|(_, r)| r).unwrap_or("");
    loop {
        rest = rest.trim_start_matches([' ', ';', '\t']);
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        let (val, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            val.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((key, val));
        rest = remaining;
    }
    out
}

/// Parses a whole body fed in `chunk`-byte pieces (tests and fuzzing).
pub fn parse_all(
    boundary: &str,
    body: &[u8],
    chunk: usize,
) -> Result<Vec<(PartHeaders, Vec<u8>)>, MultipartError> {
    let mut parser = MultipartParser::new(boundary)?;
    let mut parts: Vec<(PartHeaders, Vec<u8>)> = Vec::new();
    let drain = |parser: &mut MultipartParser, parts: &mut Vec<(PartHeaders, Vec<u8>)>| {
        while let Some(event) = parser.next_event()? {
            match event {
                Event::PartStart(headers) => parts.push((headers, Vec::new())),
                Event::Data(data) => {
                    if let Some(last) = parts.last_mut() {
                        last.1.extend_from_slice(&data);
                    }
                }
                Event::PartEnd | Event::Done => {}
            }
        }
        Ok::<(), MultipartError>(())
    };
    for piece in body.chunks(chunk.max(1)) {
        parser.push(piece);
        drain(&mut parser, &mut parts)?;
    }
    drain(&mut parser, &mut parts)?;
    parser.finish()?;
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dir/b.bin\"\r\n\r\n\x00\x01--Xy\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parse_all_when_two_parts_then_both_with_exact_bytes() {
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let parts = parse_all("XyZ", BODY, chunk).expect("valid body");
            assert_eq!(parts.len(), 2, "chunk {chunk}");
            assert_eq!(parts[0].0.filename.as_deref(), Some("a.txt"));
            assert_eq!(parts[0].0.content_type.as_deref(), Some("text/plain"));
            assert_eq!(parts[0].1, b"hello\r\nworld");
            assert_eq!(parts[1].0.filename.as_deref(), Some("dir/b.bin"));
            assert_eq!(parts[1].1, b"\x00\x01--Xy");
        }
    }

    #[test]
    fn parse_all_when_body_starts_with_boundary_then_ok() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--";
        let parts = parse_all("b", body, 5).expect("valid");
        assert_eq!(parts[0].0.name.as_deref(), Some("x"));
        assert_eq!(parts[0].1, b"v");
    }

    #[test]
    fn parse_all_when_closing_boundary_missing_then_incomplete() {
        let body = b"--b\r\n\r\nvalue";
        assert_eq!(parse_all("b", body, 3), Err(MultipartError::Incomplete));
    }

    #[test]
    fn parse_all_when_headers_huge_then_error() {
        let mut body = b"--b\r\nX: ".to_vec();
        body.extend(std::iter::repeat_n(b'a', MAX_HEADERS + 10));
        assert_eq!(
            parse_all("b", &body, 1000),
            Err(MultipartError::HeadersTooLarge)
        );
    }

    #[test]
    fn disposition_params_unescapes_quotes() {
        let params = disposition_params(r#"form-data; name="file"; filename="a \"q\".txt""#);
        assert_eq!(
            params[1],
            ("filename".to_string(), "a \"q\".txt".to_string())
        );
    }

    #[test]
    fn boundary_from_content_type_reads_quoted_value() {
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=\"abc\""),
            Some("abc".into())
        );
        assert_eq!(boundary_from_content_type("text/plain; boundary=abc"), None);
    }
}
