//! Bounds on one proxied exchange with envd. A guest that stops answering
//! must not hold a control-plane request forever:
//!
//! - The sandbox's VM can stop mid-exchange (pause on timeout, destroy,
//!   recovery). A stopped VM sends no RST, so a kept-alive connection to it
//!   would wait indefinitely; [`vm_gone`] notices the VM is no longer the one
//!   the request went to and ends the exchange, headers or body.
//! - A running envd can sit on a request (a read of a FIFO, a wedged guest):
//!   the response headers must arrive within a bound counted from the moment
//!   the request body was fully sent, so a multi-GB upload is not cut short.
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;

use super::EnvdDirectory;
use crate::sandbox::SandboxId;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often an in-flight exchange checks that its VM still runs.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Resolves once sandbox `id` no longer runs the VM of `generation`
/// (stopped, paused, gone, or running a newer VM).
pub async fn vm_gone(directory: Arc<dyn EnvdDirectory>, id: SandboxId, generation: u64) {
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let same_vm = directory
            .envd_target(&id)
            .is_ok_and(|target| target.generation == generation);
        if !same_vm {
            return;
        }
    }
}

/// A request body that reports when it has been sent in full (or given up):
/// the receiver of [`sent`] resolves then.
pub struct SentSignal {
    inner: Body,
    signal: Option<oneshot::Sender<()>>,
}

/// Wraps `body`; the receiver resolves once it is fully sent or dropped.
pub fn sent(body: Body) -> (SentSignal, oneshot::Receiver<()>) {
    let (tx, rx) = oneshot::channel();
    // An empty body may never be polled: it counts as sent already.
    let signal = (!body.is_end_stream()).then_some(tx);
    (
        SentSignal {
            inner: body,
            signal,
        },
        rx,
    )
}

impl HttpBody for SentSignal {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            // Dropping the sender wakes the receiver.
            self.signal = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The VM stopped while its response was streaming.
#[derive(Debug, thiserror::Error)]
#[error("the sandbox's VM stopped while envd was answering")]
pub struct VmStopped;

/// A response body that ends with [`VmStopped`] once its VM is gone.
pub struct UntilVmGone<B> {
    inner: B,
    gone: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    stopped: bool,
}

impl<B> UntilVmGone<B> {
    pub fn new(inner: B, gone: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        Self {
            inner,
            gone: Box::pin(gone),
            stopped: false,
        }
    }
}

impl<B> HttpBody for UntilVmGone<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.stopped {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.gone.as_mut().poll(cx).is_ready() {
            self.stopped = true;
            return Poll::Ready(Some(Err(Box::new(VmStopped))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.stopped || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
