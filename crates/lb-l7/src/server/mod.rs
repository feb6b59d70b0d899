//! [`HttpListener`]: serves accepted connections — TLS termination, HTTP/1.1
//! and HTTP/2 (ALPN `h2`, or h2c prior knowledge on the same plain port),
//! header and idle timeouts, header size limit, graceful shutdown — and
//! hands each request to the router.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures_util::future::Either;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::observe::Observer;
use crate::options::ListenerOptions;
use crate::routing::Routing;

mod service;
mod stop;
mod timeout;

use service::ConnService;
use stop::Stop;
pub(crate) use timeout::ConnState;
use timeout::TimedIo;

/// The addresses of one accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client: the PROXY protocol source, or the peer.
    pub client: SocketAddr,
    /// The local address the connection was accepted on.
    pub local: SocketAddr,
}

impl ConnInfo {
    /// A connection from `peer` (also the client) to `local`.
    #[must_use]
    pub fn new(peer: SocketAddr, local: SocketAddr) -> Self {
        Self {
            peer,
            client: peer,
            local,
        }
    }

    /// The client address learnt from a PROXY protocol header.
    #[must_use]
    pub fn with_client(mut self, client: SocketAddr) -> Self {
        self.client = client;
        self
    }
}

/// One `protocol = "http"` listener: its options, current routing and
/// observer. The caller accepts connections (and reads any PROXY header)
/// and calls [`serve_connection`](Self::serve_connection) for each.
pub struct HttpListener {
    name: Arc<str>,
    opts: ListenerOptions,
    routing: ArcSwap<Routing>,
    observer: Option<Arc<dyn Observer>>,
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
}

impl fmt::Debug for HttpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpListener")
            .field("name", &self.name)
            .field("opts", &self.opts)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpListener {
    /// A listener named `name` routing with `routing`, reporting each request
    /// to `observer`.
    #[must_use]
    pub fn new(
        name: Arc<str>,
        opts: ListenerOptions,
        routing: Arc<Routing>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // Ours is in `TimedIo` (hyper's default of 30 s would also cut
            // idle keep-alive connections).
            .header_read_timeout(None)
            // hyper answers 431 when the head outgrows the read buffer.
            .max_buf_size(opts.max_header_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(opts.max_header_bytes).unwrap_or(u32::MAX));
        let tls = opts.tls.clone().map(TlsAcceptor::from);
        Self {
            name,
            opts,
            routing: ArcSwap::new(routing),
            observer,
            builder,
            tls,
        }
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &ListenerOptions {
        &self.opts
    }

    /// The current routing snapshot.
    #[must_use]
    pub fn routing(&self) -> Arc<Routing> {
        self.routing.load_full()
    }

    /// Publish a new routing snapshot: requests that start from now on use
    /// it; requests in flight finish with the one they started with.
    pub fn update_routing(&self, routing: Arc<Routing>) {
        self.routing.store(routing);
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.observer.as_ref()
    }

    /// Serve one accepted connection until it closes: TLS handshake if the
    /// listener has TLS (within `header_timeout`), then HTTP/1.1 or HTTP/2
    /// (by ALPN, or the h2c preface). When `shutdown` is cancelled the
    /// connection shuts down gracefully: requests in flight finish, an idle
    /// HTTP/1.1 connection closes, HTTP/2 gets a GOAWAY.
    ///
    /// Errors (handshake failures, resets, timeouts) are logged at `debug`
    /// and end the connection; they never panic.
    ///
    /// The future is built here rather than by an `async fn`, so that a
    /// plain HTTP/1.1 connection's future is the fast path's own and
    /// nothing more (an `async fn` keeps its arguments beside the future
    /// it awaits): an idle connection costs what that future holds. TLS and
    /// traced connections are boxed.
    pub fn serve_connection<I>(
        self: &Arc<Self>,
        io: I,
        info: ConnInfo,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let span = tracing::debug_span!(
            "conn",
            listener = %self.name,
            client.addr = %info.client,
            server.addr = %info.local
        );
        let this = Arc::clone(self);
        if !span.is_disabled() {
            return Either::Left(Box::pin(
                this.serve_any(io, info, shutdown).instrument(span),
            ));
        }
        if self.tls.is_none() {
            return Either::Right(Either::Left(crate::h1::conn::serve(
                this, io, info, false, shutdown,
            )));
        }
        Either::Right(Either::Right(Box::pin(this.serve_any(io, info, shutdown))))
    }

    /// [`serve_connection`](Self::serve_connection), TLS or plain.
    async fn serve_any<I>(self: Arc<Self>, io: I, info: ConnInfo, shutdown: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match self.tls.clone() {
            None => crate::h1::conn::serve(self, io, info, false, shutdown).await,
            Some(acceptor) => {
                crate::h1::conn::set_nodelay(&io);
                self.serve_tls(&acceptor, io, info, shutdown).await;
            }
        }
    }

    async fn serve_tls<I>(
        self: &Arc<Self>,
        acceptor: &TlsAcceptor,
        io: I,
        info: ConnInfo,
        shutdown: CancellationToken,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let handshake = acceptor.accept(io);
        let limit = self.opts.header_timeout;
        let res = tokio::select! {
            res = async {
                if limit.is_zero() {
                    Ok(handshake.await)
                } else {
                    tokio::time::timeout(limit, handshake).await
                }
            } => res,
            () = shutdown.cancelled() => return,
        };
        match res {
            Ok(Ok(tls)) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => {
                Box::pin(self.serve_hyper(tls, info, true, shutdown)).await;
            }
            Ok(Ok(tls)) => {
                crate::h1::conn::serve(Arc::clone(self), tls, info, true, shutdown).await
            }
            Ok(Err(error)) => tracing::debug!(%error, "tls handshake failed"),
            Err(_) => tracing::debug!("tls handshake timeout"),
        }
    }

    /// Serve the connection with hyper: HTTP/2, and HTTP/1.1 requests the
    /// fast path (`crate::h1`) hands over.
    pub(crate) async fn serve_hyper<I>(
        self: &Arc<Self>,
        io: I,
        info: ConnInfo,
        tls: bool,
        shutdown: CancellationToken,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = Arc::new(ConnState::new(
            self.opts.header_timeout,
            self.opts.idle_timeout,
        ));
        let svc = ConnService::new(Arc::clone(self), info, tls, Arc::clone(&state));
        let io = TokioIo::new(TimedIo::new(io, Arc::clone(&state)));
        // Pinned where they are built: `tokio::pin!` on a local moves it
        // into a second slot of this future, and hyper's connection is
        // several KiB held for as long as the connection is open.
        let mut conn = std::pin::pin!(self.builder.serve_connection_with_upgrades(io, svc));
        let stop = std::pin::pin!(Stop::new(shutdown.cancelled(), state.idle_expired()));
        let res = tokio::select! {
            biased;
            res = conn.as_mut() => res,
            () = stop => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(error) = res {
            tracing::debug!(%error, "connection ended with an error");
        }
    }
}
