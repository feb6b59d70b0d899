//! The fast path's connection loop: wait for a request holding no buffer,
//! read its head, route it, send it to a server and relay the answer; hand
//! the connection to hyper for anything else.

use std::any::Any;
use std::future::Future;
use std::io;
use std::sync::Arc;
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
enum HeadRead {
    Head(RequestHead),
    Handover,
    Invalid,
    Closed,
}

/// Serve HTTP/1.1 on `io` until it closes (or `shutdown` while idle).
pub(crate) async fn serve<I>(
    listener: Arc<HttpListener>,
    mut io: I,
    info: ConnInfo,
    tls: bool,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let opts = listener.options();
    let (header_timeout, idle_timeout) = (opts.header_timeout, opts.idle_timeout);
    let max_head = opts.max_header_bytes.max(8192);
    let mut buf = BytesMut::new();
    let mut deadline = deadline_after(header_timeout);
    loop {
        if buf.is_empty() {
            // Idle: hold no buffer until the client sends something.
            buf = BytesMut::new();
            let wait = wait_request(&mut io, &mut buf);
            let got = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                got = within(deadline, wait) => got,
            };
            match got {
                Some(Ok(true)) => {}
                _ => return,
            }
            deadline = deadline_after(header_timeout);
        }
        let read = within(deadline, read_head(&mut io, &mut buf, max_head)).await;
        let head = match read {
            Some(HeadRead::Head(head)) => head,
            Some(HeadRead::Handover) => {
                return handover(&listener, io, buf.freeze(), info, tls, shutdown).await
            }
            Some(HeadRead::Invalid) => {
                let _ = write_local(&mut io, &ProxyError::BadRequest("invalid head"), true).await;
                return;
            }
            Some(HeadRead::Closed) | None => return,
        };
        // Boxed: the request's future is large and lives only while the
        // request does; the connection's own future stays small while idle.
        let next = Box::pin(serve_one(&listener, &mut io, head, info, tls, &shutdown)).await;
        match next {
            Next::KeepAlive => deadline = deadline_after(idle_timeout),
            Next::Close => {
                let _ = io.shutdown().await;
                return;
            }
            Next::Handover(raw) => {
                let mut all = BytesMut::with_capacity(raw.len() + buf.len());
                all.extend_from_slice(&raw);
                all.extend_from_slice(&buf);
                return handover(&listener, io, all.freeze(), info, tls, shutdown).await;
            }
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

/// Wait until the client sends something: on a TCP stream, readiness
/// alone, so no buffer is held; on others (TLS, PROXY protocol), the first
/// read. `Ok(false)` when the client closed.
async fn wait_request<I>(io: &mut I, buf: &mut BytesMut) -> io::Result<bool>
where
    I: AsyncRead + Unpin + 'static,
{
    if let Some(tcp) = (io as &mut dyn Any).downcast_mut::<TcpStream>() {
        tcp.readable().await?;
        return Ok(true);
    }
    buf.reserve(HEAD_BUF);
    Ok(io.read_buf(buf).await? > 0)
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
    Box::pin(listener.serve_hyper(io, info, tls, shutdown)).await;
}

/// One request on the fast path.
async fn serve_one<I>(
    listener: &Arc<HttpListener>,
    io: &mut I,
    head: RequestHead,
    info: ConnInfo,
    tls: bool,
    shutdown: &CancellationToken,
) -> Next
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let routing = listener.routing();
    let RequestHead { parts, close, raw } = head;
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
            bytes_in: None,
        })
    });
    let mut done = Completion::new(None, record);
    let (route, up) = match routed {
        Ok(r) => r,
        Err(err) => return answer_local(io, &err, close, done).await,
    };
    done.route = Some(route.index());
    done.upstream = Some(Arc::clone(up));
    let forward = Forward {
        up,
        route,
        info,
        tls,
    };
    let reply = forward.run_fast(parts, &mut done).await;
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
