//! Reading the rest of a refused upload before answering, so the client
//! gets the answer.
//!
//! When a handler answers `POST /files` without reading the whole body (a
//! `403` for a forbidden path, a `401`, a `507` mid-file), the server would
//! close the connection with the client's bytes unread; the kernel then
//! resets it, and a client still sending (the SDKs write the whole body
//! before reading) sees `EPIPE` or `ECONNRESET` instead of the status. This
//! layer gives the unread remainder back after the handler and discards it,
//! up to [`MAX_DRAIN`] bytes and [`IDLE`] between chunks, before the answer
//! goes out.
use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, BodyDataStream},
    extract::Request,
    http::{header, Method},
    middleware::Next,
    response::Response,
};
use futures_util::{Stream, StreamExt};

/// Most bytes read and thrown away after a refused upload; a larger body
/// gets the answer and a closed connection, as before.
pub const MAX_DRAIN: u64 = 1 << 30;

/// Longest wait for the next chunk while draining.
pub const IDLE: Duration = Duration::from_secs(30);

/// What a handler left of the body when it dropped it.
struct Left {
    stream: BodyDataStream,
    polled: bool,
}

type Slot = Arc<Mutex<Option<Left>>>;

/// The request body as the handler sees it; on drop, the unread rest goes
/// back to the layer.
struct Returning {
    inner: Option<BodyDataStream>,
    slot: Slot,
    polled: bool,
    ended: bool,
}

impl Stream for Returning {
    type Item = Result<bytes::Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.polled = true;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let next = inner.poll_next_unpin(cx);
        if let Poll::Ready(None) = next {
            self.ended = true;
        }
        next
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Some(stream) = self.inner.take() {
            let left = Left {
                stream,
                polled: self.polled,
            };
            *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(left);
        }
    }
}

/// Middleware for the whole router (outside the auth layer, so a `401` is
/// covered too); acts on `POST /files` only.
pub async fn drain_refused_uploads(request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path() != "/files" {
        return next.run(request).await;
    }
    // A client waiting for `100 Continue` sends nothing until the body is
    // read; if the handler never read it, there is nothing to drain.
    let waits_for_continue = request
        .headers()
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let slot: Slot = Arc::default();
    let (parts, body) = request.into_parts();
    let body = Body::from_stream(Returning {
        inner: Some(body.into_data_stream()),
        slot: slot.clone(),
        polled: false,
        ended: false,
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    let left = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(left) = left {
        if left.polled || !waits_for_continue {
            let drained = drain(left.stream).await;
            tracing::debug!(
                drained,
                status = response.status().as_u16(),
                "read the rest of an upload before answering"
            );
        }
    }
    response
}

/// Reads and discards up to [`MAX_DRAIN`] bytes; returns how many.
async fn drain(mut stream: BodyDataStream) -> u64 {
    let mut total = 0u64;
    while total < MAX_DRAIN {
        match tokio::time::timeout(IDLE, stream.next()).await {
            Ok(Some(Ok(chunk))) => total += chunk.len() as u64,
            _ => break,
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use axum::{routing::post, Router};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn refuse() -> (axum::http::StatusCode, &'static str) {
        (axum::http::StatusCode::FORBIDDEN, "no")
    }

    /// A client that writes a 32 MiB body before reading (as the SDKs do)
    /// gets the handler's early 403.
    #[tokio::test]
    async fn refused_upload_when_body_unread_then_client_reads_the_status() {
        let app = Router::new()
            .route("/files", post(refuse))
            .layer(axum::middleware::from_fn(drain_refused_uploads));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let size = 32usize << 20;
        let head = format!(
            "POST /files?path=/x HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: {size}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.expect("head");
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..32 {
            conn.write_all(&chunk)
                .await
                .expect("the body is read, not refused with a reset");
        }
        let mut answer = vec![0u8; 12];
        conn.read_exact(&mut answer).await.expect("answer");
        assert_eq!(&answer, b"HTTP/1.1 403");
    }
}
