//! HTTP/1.1 and HTTP/2 router and reverse proxy with TLS termination, built
//! on hyper, hyper-util and rustls over [`lb_balance`] endpoint sets.
//!
//! Use it to put a load balancer in front of HTTP servers: an
//! [`HttpListener`] serves accepted connections (TLS with SNI and ALPN,
//! HTTP/1.1, HTTP/2 and h2c on the same port, header/idle timeouts, header
//! size limit), routes each request through a [`route::RouteTable`] (first
//! match wins; weighted splits), and proxies it to an [`Upstream`]: the
//! upstream's `Balancer` picks a server (sticky cookie first, then the
//! algorithm with the request's [`HashKey`]), the request goes over a pooled
//! keep-alive client (HTTP/1.1, or HTTP/2 for gRPC: balanced per request),
//! failures are retried on another server within a budget, and the response
//! streams back. WebSocket and other upgrades are tunnelled after the 101.
//!
//! Plain HTTP/1.1 requests without a body, or with a `Content-Length` body
//! of at most 64 KiB, to upstreams of plain HTTP/1.1 servers take a fast
//! path of the crate's own (one task per client connection, heads parsed
//! with `httparse` into `http` types sharing the read buffer, raw pooled
//! server connections, bodies relayed as the server framed them, no buffer
//! held while a connection is idle); every other request is served by
//! hyper. Both apply the steps below with the same code.
//!
//! What happens to a request, in order:
//! 1. route: [`route::RouteTable::find`] on the current [`Routing`]
//!    snapshot (404 when nothing matches); a split picks its upstream;
//! 2. headers: hop-by-hop stripped, `X-Forwarded-*`/`X-Real-IP` added, the
//!    route's `request_headers` applied ([`headers`]);
//! 3. pick: the sticky server if its cookie names an available one, else
//!    the balancer's pick (503 when none is available: unhealthy, ejected,
//!    draining or at `max_connections_per_server`);
//! 4. send, under the route timeout (504); a connect failure or reset
//!    before any request body byte was sent is retried on a server not
//!    tried yet ([`RetryPolicy`]), else 502 ([`error`]);
//! 5. respond: hop-by-hop stripped, `response_headers` applied, sticky
//!    cookie (re-)issued; the server's in-flight count, passive health and
//!    the [`Observer`] hear about the request when its body ends.
//!
//! Bodies stream frame by frame with backpressure both ways; nothing is
//! buffered whole. The request path takes no lock: routing and endpoint
//! sets are `arc-swap` snapshots, per-server state is atomics.
//!
//! # Example
//!
//! A backend, a proxy in front of it, and one request through the proxy:
//!
//! ```
//! use std::{collections::HashMap, convert::Infallible, sync::Arc};
//!
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use lb_balance::{Algorithm, Balancer, Endpoint};
//! use lb_l7::route::{RouteSpec, RouteTable, Target};
//! use lb_l7::{ConnInfo, HttpListener, ListenerOptions, Routing, Upstream, UpstreamOptions};
//! use tokio::net::{TcpListener, TcpStream};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A backend saying hello.
//! let backend = TcpListener::bind("127.0.0.1:0").await?;
//! let backend_addr = backend.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((stream, _)) = backend.accept().await {
//!         let svc = hyper::service::service_fn(|_req| async {
//!             Ok::<_, Infallible>(http::Response::new(Full::new(bytes::Bytes::from("hello"))))
//!         });
//!         tokio::spawn(hyper::server::conn::http1::Builder::new()
//!             .serve_connection(TokioIo::new(stream), svc));
//!     }
//! });
//!
//! // The upstream, the routes and the listener.
//! let servers = vec![Endpoint::new(backend_addr.to_string(), backend_addr)];
//! let balancer = Arc::new(Balancer::new(Algorithm::RoundRobin, servers));
//! let upstream = Arc::new(Upstream::new("app".into(), balancer, UpstreamOptions::default(), None));
//! let table = RouteTable::new(vec![RouteSpec::new(Target::Upstream("app".into()))])?;
//! let routing = Routing::new(table, HashMap::from([("app".to_owned(), upstream)]));
//! let listener = Arc::new(HttpListener::new(
//!     "web".into(), ListenerOptions::default(), Arc::new(routing), None));
//!
//! // The accept loop is the caller's (lb-server adds PROXY protocol, limits...).
//! let tcp = TcpListener::bind("127.0.0.1:0").await?;
//! let proxy_addr = tcp.local_addr()?;
//! let shutdown = CancellationToken::new();
//! let token = shutdown.clone();
//! tokio::spawn(async move {
//!     while let Ok((stream, peer)) = tcp.accept().await {
//!         let info = ConnInfo::new(peer, proxy_addr);
//!         let (listener, token) = (Arc::clone(&listener), token.child_token());
//!         tokio::spawn(async move { listener.serve_connection(stream, info, token).await });
//!     }
//! });
//!
//! // A client.
//! let io = TokioIo::new(TcpStream::connect(proxy_addr).await?);
//! let (mut client, conn) = hyper::client::conn::http1::handshake(io).await?;
//! tokio::spawn(conn);
//! let req = http::Request::get("/").header("host", "example.com").body(Empty::<bytes::Bytes>::new())?;
//! let resp = client.send_request(req).await?;
//! assert_eq!(resp.status(), 200);
//! assert_eq!(resp.into_body().collect().await?.to_bytes(), "hello");
//! shutdown.cancel(); // graceful: in-flight requests finish
//! # Ok(())
//! # }
//! ```
//!
//! A runnable proxy in front of given servers is in
//! `examples/reverse_proxy.rs`.
//!
//! # Modules
//!
//! - [`route`]: the route table (pure: no I/O), also used for dry runs;
//! - [`headers`]: hop-by-hop stripping, forwarding headers, rewrites, and
//!   the same as tower layers;
//! - [`tls`]: rustls configurations for listeners and upstreams;
//! - [`error`]: the one mapping from failures to 400/404/431/502/503/504.
//!
//! No cargo features. MSRV: the workspace's `rust-version` (1.85).

mod body;
pub mod error;
mod h1;
pub mod headers;
mod observe;
mod options;
mod proxy;
pub mod route;
mod routing;
mod server;
pub mod tls;
mod upstream;

pub use body::ProxyBody;
pub use error::{BoxError, ConnectError, ProxyError};
pub use observe::{Observer, RequestRecord};
pub use options::{
    HashKey, ListenerOptions, RetryPolicy, StickyOptions, UpstreamOptions, UpstreamProtocol,
    UpstreamTls,
};
pub use routing::Routing;
pub use server::{ConnInfo, HttpListener};
pub use upstream::Upstream;
