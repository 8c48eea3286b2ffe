//! A small server side of the Connect protocol over axum: request parsing
//! (unary, server-stream and client-stream framing, gzip), unary and
//! streaming responses with keepalives, deadlines and end-of-stream errors.
mod codec;
pub mod envelope;
mod error;
mod stream;

use std::{io::Read, time::Duration};

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::time::Instant;

pub use codec::{Codec, RpcMessage, WireFormat};
pub use error::{Code, ConnectError};
pub use stream::{
    frame_stream_response, message_frame, stream_response, FrameStream, StreamOptions,
};

use envelope::{EnvelopeDecoder, FLAG_END_STREAM};

/// Largest single message we accept (SendInput chunks, file paths...).
pub const MAX_MESSAGE: usize = 16 << 20;

/// A parsed Connect request whose body has not been read yet.
#[derive(Debug)]
pub struct RpcRequest {
    pub format: WireFormat,
    pub headers: HeaderMap,
    pub deadline: Option<Instant>,
    gzip: bool,
    body: Body,
}

impl RpcRequest {
    /// Checks the framing headers; a wrong content type gets HTTP 415.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the ready-made HTTP response, built once on a cold path"
    )]
    pub fn parse(request: Request) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(format) = WireFormat::from_content_type(content_type) else {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                [("accept-post", "application/json, application/proto, application/connect+json, application/connect+proto")],
                "unsupported content type",
            )
                .into_response());
        };
        let encoding_header = if format.streaming {
            "connect-content-encoding"
        } else {
            "content-encoding"
        };
        let encoding = parts
            .headers
            .get(encoding_header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity");
        let gzip = match encoding {
            "gzip" => true,
            "identity" | "" => false,
            other => {
                let err = ConnectError::new(
                    Code::Unimplemented,
                    format!("unsupported compression {other:?}"),
                );
                return Err(error_response(format, &err));
            }
        };
        let deadline = parts
            .headers
            .get("connect-timeout-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        Ok(Self {
            format,
            headers: parts.headers,
            deadline,
            gzip,
            body,
        })
    }

    /// Reads the one request message of a unary or server-streaming call.
    pub async fn message<M: RpcMessage>(self) -> Result<M, ConnectError> {
        let codec = self.format.codec;
        let body = axum::body::to_bytes(self.body, MAX_MESSAGE + 5)
            .await
            .map_err(|err| ConnectError::invalid_argument(format!("reading request: {err}")))?;
        if !self.format.streaming {
            let data = if self.gzip {
                gunzip(&body)?
            } else {
                body.to_vec()
            };
            return codec.decode(&data);
        }
        let frames = envelope::decode_all(&body, MAX_MESSAGE)
            .map_err(|err| ConnectError::invalid_argument(err.to_string()))?;
        let mut messages = frames.into_iter().filter(|f| !f.is_end_stream());
        let Some(frame) = messages.next() else {
            return Err(ConnectError::invalid_argument(
                "request stream has no message",
            ));
        };
        if messages.next().is_some() {
            return Err(ConnectError::invalid_argument(
                "server-streaming call got more than one request message",
            ));
        }
        decode_frame(codec, self.gzip, frame.is_compressed(), &frame.data)
    }

    /// The messages of a client stream, read as they arrive.
    pub fn into_stream(self) -> MessageStream {
        MessageStream {
            codec: self.format.codec,
            gzip: self.gzip,
            body: self.body,
            decoder: EnvelopeDecoder::new(MAX_MESSAGE),
            ended: false,
        }
    }
}

/// A client stream being read frame by frame.
#[derive(Debug)]
pub struct MessageStream {
    codec: Codec,
    gzip: bool,
    body: Body,
    decoder: EnvelopeDecoder,
    ended: bool,
}

impl MessageStream {
    /// The next message; `None` once the client closed its side cleanly.
    pub async fn next<M: RpcMessage>(&mut self) -> Option<Result<M, ConnectError>> {
        loop {
            if self.ended {
                return None;
            }
            match self.decoder.next_envelope() {
                Err(err) => {
                    self.ended = true;
                    return Some(Err(ConnectError::invalid_argument(err.to_string())));
                }
                Ok(Some(frame)) if frame.is_end_stream() => {
                    self.ended = true;
                    return None;
                }
                Ok(Some(frame)) => {
                    return Some(decode_frame(
                        self.codec,
                        self.gzip,
                        frame.is_compressed(),
                        &frame.data,
                    ))
                }
                Ok(None) => {}
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.decoder.push(data);
                    }
                }
                Some(Err(err)) => {
                    self.ended = true;
                    return Some(Err(ConnectError::new(
                        Code::Canceled,
                        format!("client stream broke: {err}"),
                    )));
                }
                None => {
                    self.ended = true;
                    return match self.decoder.finish() {
                        Ok(()) => None,
                        Err(err) => Some(Err(ConnectError::invalid_argument(err.to_string()))),
                    };
                }
            }
        }
    }
}

fn decode_frame<M: RpcMessage>(
    codec: Codec,
    gzip: bool,
    compressed: bool,
    data: &[u8],
) -> Result<M, ConnectError> {
    if compressed {
        if !gzip {
            return Err(ConnectError::invalid_argument(
                "compressed frame without Connect-Content-Encoding",
            ));
        }
        return codec.decode(&gunzip(data)?);
    }
    codec.decode(data)
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, ConnectError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(MAX_MESSAGE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|err| ConnectError::invalid_argument(format!("bad gzip body: {err}")))?;
    if out.len() > MAX_MESSAGE {
        return Err(ConnectError::new(
            Code::ResourceExhausted,
            "decompressed message too large",
        ));
    }
    Ok(out)
}

/// The answer to a unary call.
pub fn unary_response<M: RpcMessage>(codec: Codec, result: Result<M, ConnectError>) -> Response {
    let format = WireFormat {
        codec,
        streaming: false,
    };
    match result {
        Ok(message) => (
            [(header::CONTENT_TYPE, format.content_type())],
            codec.encode(&message),
        )
            .into_response(),
        Err(err) => error_response(format, &err),
    }
}

/// An error in the framing the client asked for: a JSON body with the HTTP
/// status for unary calls, an HTTP 200 with an end-of-stream frame for streams.
pub fn error_response(format: WireFormat, err: &ConnectError) -> Response {
    if format.streaming {
        let frame = end_frame(Some(err));
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            )],
            frame,
        )
            .into_response();
    }
    let status =
        StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        err.to_json().to_string(),
    )
        .into_response()
}

pub(crate) fn end_frame(err: Option<&ConnectError>) -> Bytes {
    let body = match err {
        None => b"{}".to_vec(),
        Some(err) => serde_json::json!({ "error": err.to_json() })
            .to_string()
            .into_bytes(),
    };
    envelope::encode(FLAG_END_STREAM, &body)
}

/// Keepalive interval the client asked for with `Keepalive-Ping-Interval`.
pub fn keepalive_interval(headers: &HeaderMap) -> Duration {
    let secs = headers
        .get("keepalive-ping-interval")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(50);
    Duration::from_secs(secs.min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;
    use wrenn_proto::process::{ListRequest, ProcessEvent, StartResponse};

    async fn body_bytes(response: Response) -> Bytes {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
    }

    fn request(content_type: &str, body: Vec<u8>) -> Request {
        Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request")
    }

    #[tokio::test]
    async fn parse_when_wrong_content_type_then_415() {
        let response = RpcRequest::parse(request("text/plain", vec![])).expect_err("415");
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[tokio::test]
    async fn message_when_stream_has_one_frame_then_decoded() {
        let body = envelope::encode(0, b"{}").to_vec();
        let rpc = RpcRequest::parse(request("application/connect+json", body)).expect("parsed");
        let _: ListRequest = rpc.message().await.expect("decoded");
    }

    #[tokio::test]
    async fn message_when_frame_cut_then_invalid_argument() {
        let body = envelope::encode(0, b"{}")[..4].to_vec();
        let rpc = RpcRequest::parse(request("application/connect+json", body)).expect("parsed");
        let err = rpc.message::<ListRequest>().await.expect_err("cut");
        assert_eq!(err.code, Code::InvalidArgument);
    }

    #[tokio::test]
    async fn client_stream_yields_messages_until_end() {
        let mut body = envelope::encode(0, b"{}").to_vec();
        body.extend_from_slice(&envelope::encode(0, b"{}"));
        let rpc = RpcRequest::parse(request("application/connect+json", body)).expect("parsed");
        let mut stream = rpc.into_stream();
        assert!(stream.next::<ListRequest>().await.expect("first").is_ok());
        assert!(stream.next::<ListRequest>().await.expect("second").is_ok());
        assert!(stream.next::<ListRequest>().await.is_none());
    }

    #[tokio::test]
    async fn unary_error_has_http_status_and_json_code() {
        let response = unary_response::<ListRequest>(
            Codec::Json,
            Err(ConnectError::not_found("no such process")),
        );
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let json: serde_json::Value =
            serde_json::from_slice(&body_bytes(response).await).expect("json");
        assert_eq!(json["code"], "not_found");
    }

    #[tokio::test]
    async fn stream_error_is_an_end_frame_with_200() {
        let format = WireFormat {
            codec: Codec::Proto,
            streaming: true,
        };
        let response = error_response(format, &ConnectError::new(Code::Unauthenticated, "token"));
        assert_eq!(response.status(), StatusCode::OK);
        let frames = envelope::decode_all(&body_bytes(response).await, 1024).expect("frames");
        assert_eq!(frames.len(), 1);
        assert!(frames[0].is_end_stream());
        let json: serde_json::Value = serde_json::from_slice(&frames[0].data).expect("json");
        assert_eq!(json["error"]["code"], "unauthenticated");
    }

    #[tokio::test]
    async fn stream_response_sends_messages_then_empty_end() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(Ok(StartResponse::default())).await.expect("send");
        drop(tx);
        let response = stream_response(
            Codec::Json,
            rx,
            StreamOptions {
                deadline: None,
                keepalive: None,
            },
        );
        let frames = envelope::decode_all(&body_bytes(response).await, 1024).expect("frames");
        assert_eq!(frames.len(), 2);
        assert!(!frames[0].is_end_stream());
        assert_eq!(&frames[1].data[..], b"{}");
    }

    #[tokio::test]
    async fn stream_response_when_deadline_passes_then_deadline_exceeded() {
        let (_tx, rx) = mpsc::channel::<Result<StartResponse, ConnectError>>(4);
        let options = StreamOptions {
            deadline: Some(Instant::now() + Duration::from_millis(20)),
            keepalive: None,
        };
        let response = stream_response(Codec::Json, rx, options);
        let frames = envelope::decode_all(&body_bytes(response).await, 1024).expect("frames");
        let json: serde_json::Value = serde_json::from_slice(&frames[0].data).expect("json");
        assert_eq!(json["error"]["code"], "deadline_exceeded");
    }

    #[tokio::test]
    async fn stream_response_sends_keepalives_when_idle() {
        let (tx, rx) = mpsc::channel::<Result<StartResponse, ConnectError>>(4);
        fn keepalive() -> StartResponse {
            StartResponse {
                event: ProcessEvent::default().into(),
                ..Default::default()
            }
        }
        let options = StreamOptions {
            deadline: None,
            keepalive: Some((
                Duration::from_millis(10),
                keepalive as fn() -> StartResponse,
            )),
        };
        let response = stream_response(Codec::Json, rx, options);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(35)).await;
            drop(tx);
        });
        let frames = envelope::decode_all(&body_bytes(response).await, 1024).expect("frames");
        assert!(
            frames.len() >= 3,
            "expected keepalives, got {}",
            frames.len()
        );
    }
}
