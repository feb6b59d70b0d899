//! The HTTP/1.1 keep-alive pool: per server, a stack of idle connections.
//!
//! Lean on purpose, because it runs once per request: a checkout is one
//! uncontended lock per *server* (not per upstream) and a `pop`; the
//! connection goes back when the response body has ended (the [`Lease`] is
//! carried by the response body's bookkeeping), so there is no task and no
//! hashing per request. hyper-util's generic client did all of that and cost
//! about a sixth of the proxy's instructions per request (see
//! docs/benchmarks.md). HTTP/2 upstreams still use hyper-util's client,
//! which multiplexes streams over one connection.
//!
//! A connection that was idle longer than `pool_idle_timeout`, or that the
//! server closed, is dropped at checkout; a request that a stale connection
//! refused before sending a byte is sent again on the next one (it comes
//! back from hyper untouched).

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Builder, SendRequest};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Largest read buffer an idle raw connection keeps.
const RAW_BUF_KEEP: usize = 32 * 1024;

use super::connector::Connector;
use crate::body::SendBody;
use crate::error::{BoxError, ConnectError};

/// An idle connection and since when it has been idle.
struct Idle {
    sender: SendRequest<SendBody>,
    since: Instant,
}

/// The idle connections of one server.
pub(crate) struct ServerPool {
    addr: SocketAddr,
    idle: Mutex<Vec<Idle>>,
    /// Idle plain-TCP connections of the HTTP/1.1 fast path (`crate::h1`).
    raw: Mutex<Vec<RawIdle>>,
}

/// A plain TCP connection to a server, with what was read from it but not
/// yet used; the HTTP/1.1 fast path speaks over it directly.
#[derive(Debug)]
pub(crate) struct RawConn {
    pub(crate) io: TcpStream,
    pub(crate) buf: BytesMut,
}

/// An idle [`RawConn`] and since when it has been idle.
struct RawIdle {
    conn: RawConn,
    since: Instant,
}

impl std::fmt::Debug for ServerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPool")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerPool {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
            raw: Mutex::new(Vec::new()),
        }
    }

    /// The most recently used idle raw connection that is still open.
    ///
    /// "Open" is as far as the reactor knows: a close that has not been
    /// seen yet shows up as an error on first use, which the caller
    /// answers by trying a new connection.
    pub(crate) fn take_raw(&self, max_idle: Duration) -> Option<RawConn> {
        let mut idle = self.raw.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(c) = idle.pop() {
            if c.since.elapsed() > max_idle {
                continue;
            }
            let mut probe = [0u8; 1];
            match c.conn.io.try_read(&mut probe) {
                // Nothing to read: idle and open.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(c.conn),
                // Closed, failed, or bytes nobody asked for: unusable.
                _ => {}
            }
        }
        None
    }

    /// Keep `conn` for a next request.
    pub(crate) fn put_raw(&self, mut conn: RawConn, max_idle: Duration) {
        if !conn.buf.is_empty() {
            return;
        }
        // A buffer grown by a large response is not kept while idle.
        if conn.buf.capacity() > RAW_BUF_KEEP {
            conn.buf = BytesMut::new();
        }
        let now = Instant::now();
        let mut idle = self.raw.lock().unwrap_or_else(PoisonError::into_inner);
        if idle
            .first()
            .is_some_and(|c| now.saturating_duration_since(c.since) > max_idle)
        {
            idle.retain(|c| now.saturating_duration_since(c.since) <= max_idle);
        }
        idle.push(RawIdle { conn, since: now });
    }

    /// The server address the connections go to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The most recently used live connection, if any.
    fn take(&self, max_idle: Duration) -> Option<SendRequest<SendBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(conn) = idle.pop() {
            if !conn.sender.is_closed() && conn.since.elapsed() <= max_idle {
                return Some(conn.sender);
            }
        }
        None
    }

    fn put(&self, sender: SendRequest<SendBody>, max_idle: Duration) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // The oldest is first: sweep only when it has expired.
        if idle
            .first()
            .is_some_and(|c| now.saturating_duration_since(c.since) > max_idle)
        {
            idle.retain(|c| now.saturating_duration_since(c.since) <= max_idle);
        }
        idle.push(Idle { sender, since: now });
    }

    /// Idle connections held now.
    #[cfg(test)]
    pub(crate) fn idle_len(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A connection in use by one request; give it back with
/// [`release`](Self::release) once the response body has ended.
pub(crate) struct Lease {
    sender: SendRequest<SendBody>,
    pool: Arc<ServerPool>,
    max_idle: Duration,
}

impl Lease {
    /// The response is over and the connection may serve another request.
    pub(crate) fn release(self) {
        self.pool.put(self.sender, self.max_idle);
    }
}

/// Why a request could not be sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened.
    Connect(ConnectError),
    /// The connection failed after the request was handed to it.
    Reset(BoxError),
}

/// How the upstream opens and configures its HTTP/1.1 connections.
pub(crate) struct Http1Client {
    connector: Connector,
    builder: Builder,
    max_idle: Duration,
}

impl Http1Client {
    pub(crate) fn new(connector: Connector, max_idle: Duration) -> Self {
        Self {
            connector,
            builder: Builder::new(),
            max_idle,
        }
    }

    /// Send `req` to the server of `pool`: over an idle connection if one
    /// is alive, else over a new one.
    pub(crate) async fn send(
        &self,
        pool: &Arc<ServerPool>,
        mut req: Request<SendBody>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        while let Some(mut sender) = pool.take(self.max_idle) {
            if poll_fn(|cx| sender.poll_ready(cx)).await.is_err() {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, self.lease(sender, pool))),
                Err(mut e) => match e.take_message() {
                    // Refused before a byte was written: try the next one.
                    Some(back) => req = back,
                    None => return Err(SendError::Reset(e.into_error().into())),
                },
            }
        }
        // Boxed: connecting (TCP, TLS, handshake) is the rare path, and its
        // future is large; inline, it would be copied with every request's
        // future.
        Box::pin(self.send_on_new(pool, req)).await
    }

    /// [`send`](Self::send) over a new connection.
    async fn send_on_new(
        &self,
        pool: &Arc<ServerPool>,
        req: Request<SendBody>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let io = self
            .connector
            .connect(pool.addr())
            .await
            .map_err(SendError::Connect)?;
        let (mut sender, conn) = self
            .builder
            .handshake(io)
            .await
            .map_err(|e| SendError::Reset(e.into()))?;
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%error, "server connection ended with an error");
            }
        });
        match sender.try_send_request(req).await {
            Ok(resp) => Ok((resp, self.lease(sender, pool))),
            Err(e) => Err(SendError::Reset(e.into_error().into())),
        }
    }

    /// A new plain TCP connection to the server of `pool`.
    pub(crate) async fn connect_raw(&self, pool: &ServerPool) -> Result<RawConn, ConnectError> {
        let io = self.connector.connect_tcp(pool.addr()).await?;
        Ok(RawConn {
            io,
            buf: BytesMut::new(),
        })
    }

    /// How long a connection may stay idle in the pool.
    pub(crate) fn max_idle(&self) -> Duration {
        self.max_idle
    }

    /// Whether connections are plain TCP (the fast path's condition).
    pub(crate) fn is_plain(&self) -> bool {
        self.connector.is_plain()
    }

    fn lease(&self, sender: SendRequest<SendBody>, pool: &Arc<ServerPool>) -> Lease {
        Lease {
            sender,
            pool: Arc::clone(pool),
            max_idle: self.max_idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    /// A backend answering "hi" (closing after each answer if `close`),
    /// and a count of the connections it accepted.
    async fn backend(close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, SeqCst);
                let svc = hyper::service::service_fn(move |_req| async move {
                    let mut resp = Response::new(Full::new(Bytes::from("hi")));
                    if close {
                        resp.headers_mut()
                            .insert(http::header::CONNECTION, "close".parse().unwrap());
                    }
                    Ok::<_, Infallible>(resp)
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc),
                );
            }
        });
        (addr, accepted)
    }

    async fn get_three(close: bool) -> (usize, usize) {
        let (addr, accepted) = backend(close).await;
        let client = Http1Client::new(
            Connector::new(Duration::from_secs(5), None),
            Duration::from_secs(60),
        );
        let pool = Arc::new(ServerPool::new(addr));
        for _ in 0..3 {
            let req = Request::get("/")
                .header("host", "example.com")
                .body(SendBody::empty())
                .unwrap();
            let (resp, lease) = client.send(&pool, req).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "hi");
            lease.release();
        }
        (accepted.load(SeqCst), pool.idle_len())
    }

    #[tokio::test]
    async fn a_released_connection_serves_the_next_request() {
        assert_eq!(get_three(false).await, (1, 1));
    }

    #[tokio::test]
    async fn a_connection_the_server_closes_is_not_reused() {
        let (accepted, _) = get_three(true).await;
        assert_eq!(accepted, 3);
    }
}
