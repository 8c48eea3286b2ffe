//! `GET/POST /files`: file download and upload, streamed between the socket
//! and the disk (never a whole file in memory), gzip both ways, files
//! created as the selected user, 507 when the disk is full.
use std::{io::Write, os::fd::AsRawFd, path::PathBuf};

use axum::{
    body::Body,
    extract::{Query, Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::{
    auth,
    connect::{Code, ConnectError},
    dirs,
    file_sink::{FileSink, FileSource},
    metadata::{self, Metadata},
    multipart::{boundary_from_content_type, Event, MultipartParser},
    state::SharedState,
    users::{resolve_path, run_as, UserInfo},
};

const CHUNK: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
pub struct FilesQuery {
    pub path: Option<String>,
    pub username: Option<String>,
}

/// An HTTP error with the JSON envelope the SDK reads (`{code, message}`).
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    message: String,
}

impl HttpError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<ConnectError> for HttpError {
    fn from(err: ConnectError) -> Self {
        let status = match err.code {
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::InvalidArgument | Code::AlreadyExists | Code::FailedPrecondition => {
                StatusCode::BAD_REQUEST
            }
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::ResourceExhausted => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, err.message)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.status.as_u16(), "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

async fn request_user(
    state: &SharedState,
    query: &FilesQuery,
    headers: &HeaderMap,
) -> Result<UserInfo, HttpError> {
    let basic = auth::basic_auth_user(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let name = query.username.clone().filter(|u| !u.is_empty()).or(basic);
    Ok(state.user(name.as_deref()).await?)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',').any(|e| {
                e.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("gzip")
            })
        })
        .unwrap_or(false)
}

pub async fn download(
    State(state): State<SharedState>,
    Query(query): Query<FilesQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let user = request_user(&state, &query, &headers).await?;
    let raw = query
        .path
        .clone()
        .ok_or_else(|| HttpError::new(StatusCode::BAD_REQUEST, "path is required"))?;
    let path = resolve_path(&raw, &user.home)?;
    let open_path = path.clone();
    let (file, len) = run_as(&user, move || {
        let file = std::fs::File::open(&open_path)
            .map_err(|err| ConnectError::from_io(&err, &format!("open {}", open_path.display())))?;
        let meta = file
            .metadata()
            .map_err(|err| ConnectError::from_io(&err, "stat"))?;
        if meta.is_dir() {
            return Err(ConnectError::invalid_argument(format!(
                "{} is a directory",
                open_path.display()
            )));
        }
        Ok((file, meta.len()))
    })
    .await?;
    let mut source = FileSource::new(file, CHUNK);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\', '\r', '\n'], "_")
    );
    let first = source
        .next()
        .await
        .map_err(|err| HttpError::from(ConnectError::from_io(&err, "read")))?;
    // Compressing incompressible data (archives, media, random bytes) only
    // costs CPU: judge by the first chunk and send it as is.
    let gzip = accepts_gzip(&headers) && compresses_well(&first);
    let stream = futures_util::stream::unfold(
        (source, gzip.then(new_encoder), Some(first), false),
        |(mut source, mut encoder, pending, done)| async move {
            if done {
                return None;
            }
            let buf = match pending {
                Some(buf) if !buf.is_empty() => buf,
                _ => match source.next().await {
                    Err(err) => return Some((Err(err), (source, encoder, None, true))),
                    Ok(buf) => buf,
                },
            };
            if buf.is_empty() {
                return match encoder.take() {
                    Some(enc) => match enc.finish() {
                        Ok(tail) => {
                            Some((Ok(bytes::Bytes::from(tail)), (source, None, None, true)))
                        }
                        Err(err) => Some((Err(err), (source, None, None, true))),
                    },
                    None => None,
                };
            }
            match encoder.as_mut() {
                None => Some((Ok(buf), (source, encoder, None, false))),
                Some(enc) => {
                    let out = enc
                        .write_all(&buf)
                        .map(|_| bytes::Bytes::from(std::mem::take(enc.get_mut())));
                    Some((out, (source, encoder, None, false)))
                }
            }
        },
    );
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_DISPOSITION, disposition);
    response = if gzip {
        response
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::VARY, "Accept-Encoding")
    } else {
        response.header(header::CONTENT_LENGTH, len)
    };
    response
        .body(Body::from_stream(stream))
        .map_err(|err| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

/// Whether a sample shrinks by at least 10% at the fastest gzip level.
fn compresses_well(sample: &[u8]) -> bool {
    if sample.len() < 512 {
        return true;
    }
    let mut encoder = new_encoder();
    if encoder.write_all(sample).is_err() {
        return false;
    }
    match encoder.finish() {
        Ok(out) => out.len() * 10 < sample.len() * 9,
        Err(_) => false,
    }
}

fn new_encoder() -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast())
}

#[cfg(test)]
mod tests {
    #[test]
    fn compresses_well_when_text_then_true_when_random_then_false() {
        assert!(super::compresses_well(&[b'a'; 65536]));
        let mut x = 1u32;
        let noise: Vec<u8> = (0..65536)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        assert!(!super::compresses_well(&noise));
    }
}

/// One entry of the upload answer (E2B's `EntryInfo` of `/files`).
#[derive(Debug, serde::Serialize)]
struct WriteInfo {
    path: String,
    name: String,
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

impl WriteInfo {
    fn new(path: &std::path::Path, metadata: Option<Metadata>) -> Self {
        Self {
            path: path.display().to_string(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            r#type: "file",
            metadata,
        }
    }
}

/// A file being written, in the order of E2B's envd (so a watcher sees the
/// same events): missing parents made by envd and handed to the user, the
/// file opened as the user and chowned to them, the body, then the metadata.
struct Upload {
    file: FileSink,
    path: PathBuf,
    user: UserInfo,
    metadata: Metadata,
    gunzip: Option<flate2::write::GzDecoder<Vec<u8>>>,
}

impl Upload {
    async fn create(
        user: &UserInfo,
        path: PathBuf,
        gzip: bool,
        metadata: &Metadata,
    ) -> Result<Self, HttpError> {
        if let Some(parent) = path.parent() {
            dirs::ensure_dirs(parent, user).await?;
        }
        let create_path = path.clone();
        let (uid, gid) = (user.uid, user.gid);
        let file = run_as(user, move || {
            let existing = std::fs::metadata(&create_path).ok();
            if existing.as_ref().is_some_and(|m| m.is_dir()) {
                return Err(ConnectError::invalid_argument(format!(
                    "{} is a directory",
                    create_path.display()
                )));
            }
            // E2B chowns an existing file before truncating it and a new one
            // after creating it. Only the owner may, here: another user's
            // writable file keeps its owner.
            let chown = |at: &std::path::Path| {
                let _ = nix::unistd::chown(at, Some(uid), Some(gid));
            };
            if existing.is_some() {
                chown(&create_path);
            }
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&create_path)
                .map_err(|err| {
                    ConnectError::from_io(&err, &format!("create {}", create_path.display()))
                })?;
            if existing.is_none() {
                let _ = nix::unistd::fchown(file.as_raw_fd(), Some(uid), Some(gid));
            }
            Ok(file)
        })
        .await?;
        Ok(Self {
            file: FileSink::new(file),
            path,
            user: user.clone(),
            metadata: metadata.clone(),
            gunzip: gzip.then(|| flate2::write::GzDecoder::new(Vec::new())),
        })
    }

    async fn write(&mut self, data: bytes::Bytes) -> Result<(), HttpError> {
        let plain = match self.gunzip.as_mut() {
            None => data,
            Some(decoder) => {
                decoder.write_all(&data).map_err(|err| {
                    HttpError::new(StatusCode::BAD_REQUEST, format!("bad gzip body: {err}"))
                })?;
                std::mem::take(decoder.get_mut()).into()
            }
        };
        self.file
            .write(plain)
            .await
            .map_err(|err| write_error(&err, &self.path))
    }

    async fn finish(mut self) -> Result<WriteInfo, HttpError> {
        if let Some(decoder) = self.gunzip.take() {
            let tail = decoder.finish().map_err(|err| {
                HttpError::new(StatusCode::BAD_REQUEST, format!("bad gzip body: {err}"))
            })?;
            self.file
                .write(tail.into())
                .await
                .map_err(|err| write_error(&err, &self.path))?;
        }
        let file = self
            .file
            .finish()
            .await
            .map_err(|err| write_error(&err, &self.path))?;
        let (path, metadata) = (self.path, self.metadata);
        // No fsync: like E2B's envd, the answer means the bytes are in the
        // guest's page cache (readable by every process, kept in a pause
        // snapshot); forcing them to the disk cost more than the transfer.
        run_as(&self.user, move || {
            // Always written, even empty: the new set replaces the old one.
            match metadata::write(&file, &metadata) {
                Ok(()) => {}
                Err(err) if metadata::unsupported(&err) => {
                    tracing::warn!(path = %path.display(), "no extended attributes here; metadata not kept");
                }
                Err(err) if metadata.is_empty() => {
                    // Files that take no user attributes (devices, FIFOs) can
                    // still be written without metadata.
                    tracing::debug!(path = %path.display(), %err, "clearing metadata failed");
                }
                Err(err) => return Err(metadata_error(&err, &path)),
            }
            // Read back from the disk, so the answer never claims metadata
            // that was not kept.
            let kept = metadata::read(&path).ok().flatten();
            Ok(WriteInfo::new(&path, kept))
        })
        .await
        .map_err(HttpError::from)
    }
}

fn metadata_error(err: &std::io::Error, path: &std::path::Path) -> ConnectError {
    if matches!(
        err.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::E2BIG)
    ) {
        return ConnectError::new(
            Code::ResourceExhausted,
            format!("not enough space for the metadata of {}", path.display()),
        );
    }
    ConnectError::from_io(err, &format!("metadata of {}", path.display()))
}

fn write_error(err: &std::io::Error, path: &std::path::Path) -> HttpError {
    if matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
        return HttpError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("not enough disk space to write {}", path.display()),
        );
    }
    ConnectError::from_io(err, &format!("write {}", path.display())).into()
}

pub async fn upload(
    State(state): State<SharedState>,
    Query(query): Query<FilesQuery>,
    request: Request,
) -> Result<Response, HttpError> {
    let (parts, body) = request.into_parts();
    let user = request_user(&state, &query, &parts.headers).await?;
    let metadata = metadata::from_headers(&parts.headers);
    metadata::validate(&metadata).map_err(|err| {
        HttpError::new(StatusCode::BAD_REQUEST, format!("invalid metadata: {err}"))
    })?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let gzip = match parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => false,
        Some(v) if v.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {other:?}"),
            ))
        }
    };
    let written = if let Some(boundary) = boundary_from_content_type(content_type) {
        upload_multipart(
            &user,
            query.path.as_deref(),
            &boundary,
            body,
            gzip,
            &metadata,
        )
        .await?
    } else if content_type.is_empty() || content_type.starts_with("application/octet-stream") {
        let raw = query
            .path
            .as_deref()
            .ok_or_else(|| HttpError::new(StatusCode::BAD_REQUEST, "path is required"))?;
        let path = resolve_path(raw, &user.home)?;
        let mut upload = Upload::create(&user, path, gzip, &metadata).await?;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| {
                HttpError::new(StatusCode::BAD_REQUEST, format!("reading body: {err}"))
            })?;
            upload.write(chunk).await?;
        }
        vec![upload.finish().await?]
    } else {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type {content_type:?}"),
        ));
    };
    Ok(Json(written).into_response())
}

async fn upload_multipart(
    user: &UserInfo,
    path: Option<&str>,
    boundary: &str,
    body: Body,
    gzip: bool,
    metadata: &Metadata,
) -> Result<Vec<WriteInfo>, HttpError> {
    let bad = |err: crate::multipart::MultipartError| {
        HttpError::new(StatusCode::BAD_REQUEST, err.to_string())
    };
    let mut parser = MultipartParser::new(boundary).map_err(bad)?;
    // A gzip Content-Encoding covers the whole multipart body.
    let mut body_decoder = gzip.then(|| flate2::write::GzDecoder::new(Vec::new()));
    let mut stream = body.into_data_stream();
    let mut written = Vec::new();
    let mut current: Option<Upload> = None;
    let mut skipping = false;
    let mut ended = false;
    loop {
        while let Some(event) = parser.next_event().map_err(bad)? {
            match event {
                Event::PartStart(headers) => {
                    let target = match (path, &headers.filename) {
                        (Some(p), _) if written.is_empty() => Some(p.to_string()),
                        (_, Some(name)) if !name.is_empty() => Some(name.clone()),
                        _ => None,
                    };
                    skipping =
                        target.is_none() || headers.name.as_deref().is_some_and(|n| n != "file");
                    if !skipping {
                        if let Some(target) = target {
                            let resolved = resolve_path(&target, &user.home)?;
                            current = Some(Upload::create(user, resolved, false, metadata).await?);
                        }
                    }
                }
                Event::Data(data) => {
                    if let (Some(upload), false) = (current.as_mut(), skipping) {
                        upload.write(data).await?;
                    }
                }
                Event::PartEnd => {
                    if let Some(upload) = current.take() {
                        written.push(upload.finish().await?);
                    }
                }
                Event::Done => ended = true,
            }
        }
        if ended {
            break;
        }
        match stream.next().await {
            Some(Ok(chunk)) => match body_decoder.as_mut() {
                None => parser.push(&chunk),
                Some(decoder) => {
                    decoder.write_all(&chunk).map_err(|err| {
                        HttpError::new(StatusCode::BAD_REQUEST, format!("bad gzip body: {err}"))
                    })?;
                    parser.push(&std::mem::take(decoder.get_mut()));
                }
            },
            Some(Err(err)) => {
                return Err(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    format!("reading body: {err}"),
                ))
            }
            None => {
                parser.finish().map_err(bad)?;
                break;
            }
        }
    }
    if written.is_empty() {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "no file part in the multipart body",
        ));
    }
    Ok(written)
}
