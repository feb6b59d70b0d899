//! Body types: [`SendBody`] carries the client's request body to a server
//! (and hands it back for a retry if none of it was sent); [`ProxyBody`]
//! carries responses back to the client and ends the request's bookkeeping
//! — in-flight guard, passive outcome, observer record — when it ends or is
//! dropped. Both stream frame by frame: nothing is buffered here.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use lb_health::passive::FailureKind;
use tokio::sync::oneshot;

use crate::error::BoxError;
use crate::proxy::record::Completion;

/// The request body sent upstream: the client's body, or nothing.
///
/// Until its first frame is taken it can give the client's body back
/// through `giveback` when dropped, which is what makes a request with a
/// body retryable after a connect failure.
pub(crate) struct SendBody {
    inner: Option<Incoming>,
    giveback: Option<oneshot::Sender<Incoming>>,
    bytes_in: Option<Arc<AtomicU64>>,
}

impl fmt::Debug for SendBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendBody")
            .field("empty", &self.inner.is_none())
            .field("returnable", &self.giveback.is_some())
            .finish()
    }
}

impl SendBody {
    pub(crate) fn empty() -> Self {
        Self {
            inner: None,
            giveback: None,
            bytes_in: None,
        }
    }

    pub(crate) fn new(
        inner: Incoming,
        giveback: Option<oneshot::Sender<Incoming>>,
        bytes_in: Option<Arc<AtomicU64>>,
    ) -> Self {
        Self {
            inner: Some(inner),
            giveback,
            bytes_in,
        }
    }
}

impl Drop for SendBody {
    fn drop(&mut self) {
        if let (Some(tx), Some(inner)) = (self.giveback.take(), self.inner.take()) {
            let _ = tx.send(inner);
        }
    }
}

impl Body for SendBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        // Something was taken from the client's body: it can no longer be
        // sent again.
        this.giveback = None;
        if let (Some(Ok(f)), Some(n)) = (&frame, &this.bytes_in) {
            if let Some(data) = f.data_ref() {
                n.fetch_add(data.len() as u64, Relaxed);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

enum Kind {
    Empty,
    Text(Option<Bytes>),
    Upstream(Incoming),
}

/// The body of every response the proxy sends: a server's streamed body,
/// or a short local text (errors).
///
/// When it ends — last frame sent, error, or dropped because the client
/// went away — the request is over: the server's in-flight count drops,
/// passive health hears the outcome and the [`Observer`](crate::Observer)
/// gets its record.
pub struct ProxyBody {
    kind: Kind,
    done: Option<Completion>,
}

impl fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Empty => "empty",
            Kind::Text(_) => "text",
            Kind::Upstream(_) => "upstream",
        };
        f.debug_struct("ProxyBody").field("kind", &kind).finish()
    }
}

impl ProxyBody {
    /// An empty body.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            kind: Kind::Empty,
            done: None,
        }
    }

    /// A short static text.
    #[must_use]
    pub fn text(text: &'static str) -> Self {
        Self {
            kind: Kind::Text(Some(Bytes::from_static(text.as_bytes()))),
            done: None,
        }
    }

    pub(crate) fn upstream(inner: Incoming) -> Self {
        Self {
            kind: Kind::Upstream(inner),
            done: None,
        }
    }

    pub(crate) fn with_completion(mut self, done: Completion) -> Self {
        self.done = Some(done);
        if self.kind_is_end() {
            // hyper will not poll a body that says it is over.
            self.finish(None);
        }
        self
    }

    fn kind_is_end(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Text(t) => t.is_none(),
            Kind::Upstream(b) => b.is_end_stream(),
        }
    }

    fn count(&mut self, n: usize) {
        if let Some(done) = &mut self.done {
            done.bytes_out += n as u64;
        }
    }

    fn finish(&mut self, failure: Option<FailureKind>) {
        if let Some(done) = self.done.take() {
            done.complete(failure);
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if let Some(done) = &mut self.done {
            // Dropped before its end: the server connection still has part
            // of the response; it must not serve another request.
            done.lease = None;
        }
        self.finish(None);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = match &mut this.kind {
            Kind::Empty => None,
            Kind::Text(t) => t.take().map(|b| Ok(Frame::data(b))),
            Kind::Upstream(inner) => {
                ready!(Pin::new(inner).poll_frame(cx)).map(|r| r.map_err(Into::into))
            }
        };
        match &polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len();
                    this.count(n);
                }
                if this.kind_is_end() {
                    this.finish(None);
                }
            }
            Some(Err(_)) => this.finish(Some(FailureKind::Reset)),
            None => this.finish(None),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.kind_is_end()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Text(t) => SizeHint::with_exact(t.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Upstream(b) => b.size_hint(),
        }
    }
}
