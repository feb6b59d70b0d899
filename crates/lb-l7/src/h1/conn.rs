//! The fast path's connection loop: wait for a request holding no buffer,
//! read its head, route it, send it to a server and relay the answer; hand
//! the connection to hyper for anything else.

use std::any::Any;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::HOST;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::head::{self, Parsed, RequestHead};
use super::prefixed::Prefixed;
use super::relay::{self, Relayed};
use crate::error::ProxyError;
use crate::proxy::fast::{self, Reply};
use crate::proxy::record::{Completion, RecordCtx};
use crate::proxy::Forward;
use crate::route::Route;
use crate::server::{ConnInfo, HttpListener};

/// Initial size of the read buffer for a request head.
const HEAD_BUF: usize = 4 * 1024;

/// What the connection does after a request.
enum Next {
    KeepAlive,
    Close,
    /// Give the connection to hyper with these bytes in front.
    Handover(Bytes),
}

/// How reading a head ended.
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per request, inside the boxed request future"
)]
enum HeadRead {
    Head(RequestHead),
    Handover,
    Invalid,
    Closed,
}

/// Serve HTTP/1.1 on `io` until it closes (or `shutdown` while idle).
///
/// This future is what an idle connection costs, so it holds little: the
/// request's work (head, proxying, relay) is boxed for as long as the
/// request lasts, and the wait for the next one holds no buffer.
pub(crate) async fn serve<I>(
    listener: Arc<HttpListener>,
    mut io: I,
    info: ConnInfo,
    tls: bool,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = BytesMut::new();
    let mut deadline = deadline_after(listener.options().header_timeout);
    let mut kept_alive = false;
    loop {
        if buf.is_empty() {
            // Idle: hold no buffer until the client sends something.
            buf = BytesMut::new();
            if !wait_request(&mut io, &mut buf, deadline, &shutdown).await {
                return;
            }
            deadline = deadline_after(listener.options().header_timeout);
        }
        let next = Box::pin(request(
            &listener, &mut io, &mut buf, deadline, info, tls, &shutdown,
        ))
        .await;
        match next {
            Next::KeepAlive => {
                if !kept_alive {
                    // As nginx does: only a connection that stays open
                    // needs its small writes sent at once; one that closes
                    // after its response spares the syscall.
                    kept_alive = true;
                    set_nodelay(&io);
                }
                deadline = deadline_after(listener.options().idle_timeout);
            }
            Next::Close => {
                // A plain TCP connection with nothing unread closes with a
                // FIN on `close`; TLS needs its close_notify.
                if !(buf.is_empty() && is_tcp(&io)) {
                    let _ = io.shutdown().await;
                }
                return;
            }
            Next::Handover(prefix) => {
                set_nodelay(&io);
                return Box::pin(handover(&listener, io, prefix, info, tls, shutdown)).await;
            }
        }
    }
}

/// Read one request head (by `deadline`) and serve it.
async fn request<I>(
    listener: &Arc<HttpListener>,
    io: &mut I,
    buf: &mut BytesMut,
    deadline: Option<Instant>,
    info: ConnInfo,
    tls: bool,
    shutdown: &CancellationToken,
) -> Next
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let max_head = listener.options().max_header_bytes.max(8192);
    let head = match within(deadline, read_head(io, buf, max_head)).await {
        Some(HeadRead::Head(head)) => head,
        Some(HeadRead::Handover) => return Next::Handover(std::mem::take(buf).freeze()),
        Some(HeadRead::Invalid) => {
            let _ = write_local(io, &ProxyError::BadRequest("invalid head"), true).await;
            return Next::Close;
        }
        Some(HeadRead::Closed) | None => return Next::Close,
    };
    // A small body is read whole (no deadline: hyper has none for bodies
    // either) so that it can be sent again on a retry.
    let want = usize::try_from(head.body).unwrap_or(usize::MAX);
    while buf.len() < want {
        buf.reserve(want - buf.len());
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return Next::Close,
            Ok(_) => {}
        }
    }
    let body = buf.split_to(want).freeze();
    match serve_one(listener, io, head, body.clone(), info, tls, shutdown).await {
        Next::Handover(raw) => {
            let mut all = BytesMut::with_capacity(raw.len() + body.len() + buf.len());
            all.extend_from_slice(&raw);
            all.extend_from_slice(&body);
            all.extend_from_slice(buf);
            buf.clear();
            Next::Handover(all.freeze())
        }
        next => next,
    }
}

/// Whether `io` is a plain TCP stream.
fn is_tcp<I: 'static>(io: &I) -> bool {
    (io as &dyn Any).is::<TcpStream>()
}

/// `TCP_NODELAY` on `io` if it is a plain TCP stream (others were set up
/// by whoever wrapped them).
pub(crate) fn set_nodelay<I: 'static>(io: &I) {
    if let Some(tcp) = (io as &dyn Any).downcast_ref::<TcpStream>() {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY");
        }
    }
}

fn deadline_after(limit: Duration) -> Option<Instant> {
    (!limit.is_zero()).then(|| Instant::now() + limit)
}

/// `fut`, or `None` if `deadline` passes first.
async fn within<F: Future>(deadline: Option<Instant>, fut: F) -> Option<F::Output> {
    match deadline {
        None => Some(fut.await),
        Some(at) => tokio::time::timeout_at(at, fut).await.ok(),
    }
}

/// Wait until the client sends something and read it into `buf` (`false`:
/// it closed, failed, or `deadline` or `shutdown` came first). On a TCP
/// stream the buffer is made only once readiness says bytes are there; on
/// others (TLS, PROXY protocol) it is held for the read.
///
/// Written by hand rather than with `select!` and `timeout`: this is the
/// state an idle connection sits in, and its size is what each idle
/// connection costs.
async fn wait_request<I>(
    io: &mut I,
    buf: &mut BytesMut,
    deadline: Option<Instant>,
    shutdown: &CancellationToken,
) -> bool
where
    I: AsyncRead + Unpin + 'static,
{
    let mut cancelled = std::pin::pin!(shutdown.cancelled());
    // Made on the first wait only: a client that already sent its next
    // request costs no timer.
    let mut sleep = None;
    std::future::poll_fn(|cx| {
        if let Some(tcp) = (&mut *io as &mut dyn Any).downcast_mut::<TcpStream>() {
            // Readiness can outlive the bytes (a read that filled the
            // buffer leaves it set): read now, and wait again if there was
            // nothing after all.
            while let Poll::Ready(r) = tcp.poll_read_ready(cx) {
                if r.is_err() {
                    return Poll::Ready(false);
                }
                buf.reserve(HEAD_BUF);
                match tcp.try_read_buf(buf) {
                    Ok(n) => return Poll::Ready(n > 0),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => *buf = BytesMut::new(),
                    Err(_) => return Poll::Ready(false),
                }
            }
        } else {
            if buf.capacity() == 0 {
                buf.reserve(HEAD_BUF);
            }
            if let Poll::Ready(r) = tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf) {
                return Poll::Ready(matches!(r, Ok(n) if n > 0));
            }
        }
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        if let Some(at) = deadline {
            let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
        }
        Poll::Pending
    })
    .await
}

/// Read until `buf` holds a whole request head.
async fn read_head<I>(io: &mut I, buf: &mut BytesMut, max: usize) -> HeadRead
where
    I: AsyncRead + Unpin,
{
    loop {
        if !buf.is_empty() {
            match head::parse_request(buf) {
                Parsed::Complete(head) => return HeadRead::Head(head),
                Parsed::Handover => return HeadRead::Handover,
                Parsed::Invalid => return HeadRead::Invalid,
                // hyper answers 431 for a head it cannot hold either.
                Parsed::Partial if buf.len() >= max => return HeadRead::Handover,
                Parsed::Partial => {}
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(HEAD_BUF.max(buf.len()));
        }
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return HeadRead::Closed,
            Ok(_) => {}
        }
    }
}

/// Serve the rest of the connection with hyper, `prefix` first.
async fn handover<I>(
    listener: &Arc<HttpListener>,
    io: I,
    prefix: Bytes,
    info: ConnInfo,
    tls: bool,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tracing::trace!("connection handed to hyper");
    let io = Prefixed::new(prefix, io);
    listener.serve_hyper(io, info, tls, shutdown).await;
}

/// One request on the fast path.
async fn serve_one<I>(
    listener: &Arc<HttpListener>,
    io: &mut I,
    head: RequestHead,
    body: Bytes,
    info: ConnInfo,
    tls: bool,
    shutdown: &CancellationToken,
) -> Next
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let routing = listener.routing();
    let RequestHead {
        parts, close, raw, ..
    } = head;
    let routed = fast::route_fast(&routing, &parts);
    let routed = match routed {
        Ok(None) => return Next::Handover(raw),
        Ok(Some(r)) => Ok(r),
        Err(e) => Err(e),
    };
    let record = listener.observer().map(|observer| {
        Box::new(RecordCtx {
            observer: Arc::clone(observer),
            listener: Arc::clone(listener.name_arc()),
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            host: parts.headers.get(HOST).cloned(),
            client: info.client,
            start: Instant::now(),
            // Made only for a request with a body, as on the hyper path.
            bytes_in: (!body.is_empty()).then(|| Arc::new(AtomicU64::new(body.len() as u64))),
        })
    });
    let mut done = Completion::new(None, record);
    // A shutting-down listener answers this request and closes.
    let close = close || shutdown.is_cancelled();
    let (route, up) = match routed {
        Ok(r) => r,
        Err((route, err)) => {
            done.route = route.map(Route::index);
            return answer_local(io, &err, close, done).await;
        }
    };
    done.route = Some(route.index());
    done.upstream = Some(Arc::clone(up));
    let forward = Forward {
        up,
        route,
        info,
        tls,
    };
    let reply = forward.run_fast(parts, body, &mut done).await;
    let close = close || shutdown.is_cancelled();
    match reply {
        Reply::Local(err) => answer_local(io, &err, close, done).await,
        Reply::Server(reply) => {
            let outcome = relay::relay(io, reply, close).await;
            done.bytes_out = outcome.bytes;
            let failure = (outcome.how == Relayed::ServerFailed)
                .then_some(lb_health::passive::FailureKind::Reset);
            done.complete(failure);
            if outcome.close {
                Next::Close
            } else {
                Next::KeepAlive
            }
        }
    }
}

/// Answer `err` locally and finish the request's bookkeeping.
async fn answer_local<I>(io: &mut I, err: &ProxyError, close: bool, mut done: Completion) -> Next
where
    I: AsyncWrite + Unpin,
{
    done.status = err.status().as_u16();
    let ok = write_local(io, err, close).await.is_ok();
    if ok {
        done.bytes_out = err.body_text().len() as u64;
    }
    done.complete(None);
    if close || !ok {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Write the plain-text answer for `err`.
async fn write_local<I>(io: &mut I, err: &ProxyError, close: bool) -> io::Result<()>
where
    I: AsyncWrite + Unpin,
{
    tracing::trace!(target: "lb_l7::error", status = err.status().as_u16(), error = %err);
    let text = err.body_text();
    let mut out = Vec::with_capacity(160 + text.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(err.status().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(err.status().canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ");
    out.extend_from_slice(itoa_usize(text.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(text.as_bytes());
    io.write_all(&out).await
}

fn itoa_usize(n: usize) -> String {
    n.to_string()
}
