//! Connection timers: `header_timeout` (the request head must arrive in
//! time: slowloris) and `idle_timeout` (no request in flight for too long).
//!
//! hyper's own `header_read_timeout` starts as soon as a kept-alive
//! HTTP/1.1 connection waits for its next request, so it would also cut
//! idle connections after `header_timeout`; it does nothing for HTTP/2 and
//! does not cover the protocol sniffing of the auto builder. So the timers
//! live here instead, in an I/O wrapper sharing a [`ConnState`] with the
//! connection's service:
//!
//! - a new connection, or an idle HTTP/1.1 one that receives bytes, must get
//!   a request head to the service within `header_timeout`, else reads fail
//!   with `TimedOut` and the connection closes;
//! - while requests are in flight, nothing times out here (routes have
//!   their own timeout);
//! - once the last response ended, the connection may stay idle for
//!   `idle_timeout`; then [`ConnState::idle_expired`] fires and the
//!   connection is shut down gracefully (HTTP/2 gets a GOAWAY). Frames an
//!   HTTP/2 client sends while idle (pings, window updates) do not restart
//!   the header timer.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use std::{fmt, future::Future, sync::Arc};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Per-connection request count and timer phase.
pub(crate) struct ConnState {
    base: Instant,
    header_timeout: Duration,
    idle_timeout: Duration,
    in_flight: AtomicU32,
    /// Idle (waiting for a next request) rather than reading a head.
    idle: AtomicBool,
    /// When the current phase started, in ns since `base`.
    since: AtomicU64,
    /// The connection speaks HTTP/2.
    h2: AtomicBool,
    /// The reader parked while requests were in flight: woken when the last
    /// one ends, so that it arms the idle timer.
    reader: AtomicWaker,
    /// Fired when the idle timer expires.
    idle_expired: Notify,
}

impl fmt::Debug for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnState")
            .field("in_flight", &self.in_flight.load(Relaxed))
            .field("idle", &self.idle.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl ConnState {
    pub(crate) fn new(header_timeout: Duration, idle_timeout: Duration) -> Self {
        Self {
            base: Instant::now(),
            header_timeout,
            idle_timeout,
            in_flight: AtomicU32::new(0),
            idle: AtomicBool::new(false),
            since: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            reader: AtomicWaker::new(),
            idle_expired: Notify::new(),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A request head reached the service.
    pub(crate) fn request_started(&self, version: http::Version) {
        self.in_flight.fetch_add(1, Relaxed);
        if version == http::Version::HTTP_2 {
            self.h2.store(true, Relaxed);
        }
    }

    /// Resolves when the connection has been idle for `idle_timeout`.
    pub(crate) async fn idle_expired(&self) {
        self.idle_expired.notified().await;
    }

    /// A response ended (or was dropped).
    pub(crate) fn request_done(&self) {
        if self.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.since.store(self.now_ns(), Relaxed);
            self.idle.store(true, Relaxed);
            self.reader.wake();
        }
    }

    /// Bytes arrived from the client: on an idle HTTP/1.1 connection, the
    /// head of a next request.
    fn on_read(&self) {
        if self.in_flight.load(Relaxed) == 0 && self.idle.load(Relaxed) && !self.h2.load(Relaxed) {
            self.since.store(self.now_ns(), Relaxed);
            self.idle.store(false, Relaxed);
        }
    }

    /// When the connection times out, and whether that is the idle timer.
    fn deadline(&self) -> Option<(Instant, bool)> {
        if self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        let idle = self.idle.load(Relaxed);
        let limit = if idle {
            self.idle_timeout
        } else {
            self.header_timeout
        };
        if limit.is_zero() {
            return None;
        }
        let since = Duration::from_nanos(self.since.load(Relaxed));
        Some((self.base + since + limit, idle))
    }
}

/// The connection's I/O with the timers of [`ConnState`] applied to reads.
pub(crate) struct TimedIo<I> {
    inner: I,
    state: Arc<ConnState>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<I> fmt::Debug for TimedIo<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedIo")
            .field("state", &self.state)
            .finish()
    }
}

impl<I> TimedIo<I> {
    pub(crate) fn new(inner: I, state: Arc<ConnState>) -> Self {
        Self {
            inner,
            state,
            sleep: None,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for TimedIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                // Registered before the check, so a request ending in
                // between still wakes us.
                this.state.reader.register(cx.waker());
                let Some((deadline, idle)) = this.state.deadline() else {
                    return Poll::Pending;
                };
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if idle {
                    // The serving loop shuts the connection down gracefully;
                    // reads simply wait for that.
                    tracing::debug!("idle timeout");
                    this.state.idle_expired.notify_one();
                    Poll::Pending
                } else {
                    tracing::debug!("request header timeout");
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request header timeout",
                    )))
                }
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for TimedIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
