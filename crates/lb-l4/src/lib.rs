//! TCP and UDP load balancing, and the PROXY protocol (v1, v2).
//!
//! `lb-l4` proxies bytes without parsing them: it is what lb runs for
//! `protocol = "tcp"` and `protocol = "udp"` listeners, and it holds the
//! PROXY protocol codec that every listener (HTTP too) uses.
//!
//! - [`TcpProxy`] serves one accepted connection: it picks a server from an
//!   [`lb_balance::Balancer`] (the client IP is the hash key; `least_conn`
//!   counts open connections), connects within `connect_timeout`, tries
//!   another server when a connect fails (`retry_attempts`), sends an optional
//!   PROXY header, then copies both ways with backpressure, half-close and
//!   an idle timeout, using Linux `splice(2)` for plain TCP sockets. It is
//!   also a tower `Service<(I, client, local)>`.
//! - [`UdpProxy`] runs a UDP listener: each client address is a flow pinned
//!   to one server, with its own upstream socket, expiring after
//!   `session_timeout`; the number of flows is bounded.
//! - [`proxy_protocol`] parses (strictly, never panicking), encodes and
//!   accepts PROXY protocol headers.
//! - [`ListenerStats`] are the live counters behind
//!   `lb_connections_active`, `lb_connections_total` and `lb_bytes_total`;
//!   a [`ConnectionObserver`] gets a [`ConnectionRecord`] per connection or
//!   flow for access logs.
//!
//! # Example
//!
//! A TCP balancer over one echo server:
//!
//! ```
//! use std::sync::Arc;
//! use lb_balance::{Algorithm, Balancer, Endpoint};
//! use lb_l4::{TcpOptions, TcpProxy};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server: echoes what it reads.
//! let server = TcpListener::bind("127.0.0.1:0").await?;
//! let server_addr = server.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((mut s, _)) = server.accept().await {
//!         tokio::spawn(async move {
//!             let (mut r, mut w) = s.split();
//!             let _ = tokio::io::copy(&mut r, &mut w).await;
//!         });
//!     }
//! });
//!
//! // The balancer and its accept loop.
//! let endpoints = vec![Endpoint::new(server_addr.to_string(), server_addr)];
//! let balancer = Arc::new(Balancer::new(Algorithm::RoundRobin, endpoints));
//! let proxy = TcpProxy::new("pg", balancer, TcpOptions::default());
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let stats = Arc::clone(proxy.stats());
//! tokio::spawn(async move {
//!     while let Ok((io, client)) = listener.accept().await {
//!         let proxy = proxy.clone();
//!         tokio::spawn(async move {
//!             let local = io.local_addr()?;
//!             proxy.serve_connection(io, client, local).await?;
//!             Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//!         });
//!     }
//! });
//!
//! // A client.
//! let mut client = TcpStream::connect(addr).await?;
//! client.write_all(b"hello").await?;
//! client.shutdown().await?; // half-close: the reply still comes back
//! let mut reply = Vec::new();
//! client.read_to_end(&mut reply).await?;
//! assert_eq!(reply, b"hello");
//! assert_eq!(stats.connections_total.load(std::sync::atomic::Ordering::Relaxed), 1);
//! # Ok(())
//! # }
//! ```
//!
//! See `examples/tcp_proxy.rs` for a command-line TCP balancer.
//!
//! Minimum supported Rust version: the workspace's `rust-version` (1.85).

mod activity;
mod error;
mod open;
mod passive;
pub mod proxy_protocol;
mod record;
mod stats;
mod tcp;
mod udp;

pub use error::L4Error;
pub use record::{CloseReason, ConnectionObserver, ConnectionRecord};
pub use stats::ListenerStats;
pub use tcp::{ConnectionPermit, ServeFuture, TcpOptions, TcpProxy};
pub use udp::{UdpOptions, UdpProxy};
