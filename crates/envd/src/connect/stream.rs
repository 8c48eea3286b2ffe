//! Server-stream responses: items from a channel framed as envelopes, the
//! keepalives and deadline a client asked for, and the end-of-stream frame.
//!
//! The body pulls from the channel only when the client can take more, so a
//! slow client slows the producer instead of growing a buffer. Items already
//! waiting are joined into one body chunk (up to [`BATCH`] bytes), so bursts
//! of small messages cost one write instead of one each.
use std::{convert::Infallible, pin::Pin, time::Duration};

use axum::{
    body::Body,
    http::header,
    response::{IntoResponse, Response},
};
use bytes::{BufMut, Bytes, BytesMut};
use tokio::{
    sync::mpsc::{self, error::TryRecvError},
    time::{Instant, Sleep},
};

use super::{end_frame, Code, Codec, ConnectError, RpcMessage, WireFormat};

/// Bytes of ready frames above which no further item is joined to a chunk.
const BATCH: usize = 64 * 1024;

/// Extras for a server stream.
#[derive(Debug)]
pub struct StreamOptions<M> {
    /// Ends the stream with `deadline_exceeded` (from `Connect-Timeout-Ms`).
    pub deadline: Option<Instant>,
    /// Sends `make()` every `interval` so idle proxies keep the stream open.
    pub keepalive: Option<(Duration, fn() -> M)>,
}

/// Appends the envelope of one message to `out`.
pub fn message_frame<M: RpcMessage>(codec: Codec, message: &M, out: &mut BytesMut) {
    let data = codec.encode(message);
    out.reserve(5 + data.len());
    out.put_u8(0);
    out.put_u32(data.len() as u32);
    out.extend_from_slice(&data);
}

/// Streams the messages a handler sends on `rx`, then the end frame. An
/// `Err` item ends the stream with that error.
pub fn stream_response<M: RpcMessage>(
    codec: Codec,
    rx: mpsc::Receiver<Result<M, ConnectError>>,
    options: StreamOptions<M>,
) -> Response {
    let keepalive = options.keepalive.map(|(every, make)| {
        let mut frame = BytesMut::new();
        message_frame(codec, &make(), &mut frame);
        (every, frame.freeze())
    });
    frame_stream_response(
        codec,
        rx,
        move |item, out| {
            message_frame(codec, &item?, out);
            Ok(())
        },
        options.deadline,
        keepalive,
    )
}

/// Streams the items of `rx`, each appended to the body by `encode` (which
/// may end the stream with an error), then the end frame. `keepalive` is a
/// ready-made frame sent after each idle interval.
pub fn frame_stream_response<T, E>(
    codec: Codec,
    rx: mpsc::Receiver<T>,
    encode: E,
    deadline: Option<Instant>,
    keepalive: Option<(Duration, Bytes)>,
) -> Response
where
    T: Send + 'static,
    E: FnMut(T, &mut BytesMut) -> Result<(), ConnectError> + Send + 'static,
{
    let format = WireFormat {
        codec,
        streaming: true,
    };
    let state = FrameStream {
        rx,
        encode,
        deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
        keepalive: keepalive
            .map(|(every, frame)| (every, frame, Box::pin(tokio::time::sleep(every)))),
        done: false,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        let chunk = st.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(chunk), st))
    });
    (
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(body),
    )
        .into_response()
}

/// The state of one streamed body.
pub struct FrameStream<T, E> {
    rx: mpsc::Receiver<T>,
    encode: E,
    deadline: Option<Pin<Box<Sleep>>>,
    keepalive: Option<(Duration, Bytes, Pin<Box<Sleep>>)>,
    done: bool,
}

impl<T, E> std::fmt::Debug for FrameStream<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameStream")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

enum Wake<T> {
    Item(Option<T>),
    Deadline,
    Keepalive,
}

impl<T, E> FrameStream<T, E>
where
    E: FnMut(T, &mut BytesMut) -> Result<(), ConnectError>,
{
    /// The next body chunk: one or more frames, or `None` after the end frame.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let wake = {
            let deadline = optional(self.deadline.as_mut());
            let keepalive = optional(self.keepalive.as_mut().map(|(_, _, sleep)| sleep));
            tokio::select! {
                // The deadline first, so a busy stream still ends on time.
                biased;
                () = deadline => Wake::Deadline,
                item = self.rx.recv() => Wake::Item(item),
                () = keepalive => Wake::Keepalive,
            }
        };
        let mut out = BytesMut::new();
        match wake {
            Wake::Deadline => {
                self.done = true;
                let err = ConnectError::new(Code::DeadlineExceeded, "stream deadline exceeded");
                return Some(end_frame(Some(&err)));
            }
            Wake::Keepalive => {
                let (_, frame, _) = self.keepalive.as_ref()?;
                let frame = frame.clone();
                self.rearm_keepalive();
                return Some(frame);
            }
            Wake::Item(None) => {
                self.done = true;
                return Some(end_frame(None));
            }
            Wake::Item(Some(item)) => self.push(item, &mut out),
        }
        while !self.done && out.len() < BATCH {
            match self.rx.try_recv() {
                Ok(item) => self.push(item, &mut out),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.done = true;
                    out.extend_from_slice(&end_frame(None));
                }
            }
        }
        self.rearm_keepalive();
        Some(out.freeze())
    }

    fn push(&mut self, item: T, out: &mut BytesMut) {
        if let Err(err) = (self.encode)(item, out) {
            self.done = true;
            out.extend_from_slice(&end_frame(Some(&err)));
        }
    }

    fn rearm_keepalive(&mut self) {
        if let Some((every, _, sleep)) = self.keepalive.as_mut() {
            sleep.as_mut().reset(Instant::now() + *every);
        }
    }
}

/// A sleep that never ends when there is none.
async fn optional(sleep: Option<&mut Pin<Box<Sleep>>>) {
    match sleep {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}
