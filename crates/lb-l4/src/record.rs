//! What a proxied connection or UDP flow reports when it ends.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One finished TCP connection or UDP flow: the facts an access log line and
/// the byte counters need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// The listener's name (from the configuration).
    pub listener: Arc<str>,
    /// The client (from the PROXY header when one was accepted).
    pub client: SocketAddr,
    /// The server it was proxied to; `None` if none could be reached.
    pub server: Option<SocketAddr>,
    /// Bytes from the client to the server (a PROXY header sent is not
    /// counted).
    pub bytes_up: u64,
    /// Bytes from the server to the client.
    pub bytes_down: u64,
    /// From the start of [`TcpProxy::serve_connection`](crate::TcpProxy::serve_connection)
    /// (or the flow's first datagram) to the end.
    pub duration: Duration,
    /// How it ended.
    pub close: CloseReason,
    /// Connect attempts after the first (each a failure on another server);
    /// feeds `lb_retries_total`.
    pub retries: u32,
}

/// How a connection or flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// Both directions ended with end-of-stream (TCP), or the flow expired
    /// after `session_timeout` without traffic (UDP).
    Finished,
    /// No byte moved either way for `idle_timeout`.
    IdleTimeout,
    /// Reading from or writing to the client failed (e.g. a reset).
    ClientError,
    /// Reading from or writing to the server failed (e.g. a reset or, for UDP,
    /// an ICMP port unreachable).
    ServerError,
    /// No server could be reached; see the [`L4Error`](crate::L4Error).
    NoServer,
    /// The proxy was shut down.
    Shutdown,
}

impl CloseReason {
    /// A short lower-case name for logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::Finished => "finished",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::ClientError => "client_error",
            CloseReason::ServerError => "server_error",
            CloseReason::NoServer => "no_server",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Told about every connection (TCP) or flow (UDP) when it ends, including
/// those that reached no server. Implementations write access logs or feed
/// metrics; they run on the connection's task, so keep them short and
/// non-blocking.
pub trait ConnectionObserver: Send + Sync + 'static {
    /// A connection or flow ended.
    fn on_connection(&self, record: &ConnectionRecord);
}

impl<F> ConnectionObserver for F
where
    F: Fn(&ConnectionRecord) + Send + Sync + 'static,
{
    fn on_connection(&self, record: &ConnectionRecord) {
        self(record);
    }
}
