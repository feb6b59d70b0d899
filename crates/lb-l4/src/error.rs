//! The errors of the TCP and UDP proxies.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a connection could not be proxied.
///
/// Failures after a server was reached (a reset, an idle timeout) do not
/// make an error: the connection was served, and its
/// [`ConnectionRecord::close`](crate::ConnectionRecord::close) says how it
/// ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum L4Error {
    /// The balancer had no available server (all unhealthy, ejected,
    /// draining, full, or already tried).
    #[error("no server available")]
    NoServer,
    /// Connecting to the last server tried failed.
    #[error("connecting to {server}: {source}")]
    Connect {
        /// The server.
        server: SocketAddr,
        /// The connect error (refused, unreachable, ...).
        #[source]
        source: io::Error,
    },
    /// Connecting to the last server tried took longer than `connect_timeout`.
    #[error("connecting to {server}: no answer within {timeout:?}")]
    ConnectTimeout {
        /// The server.
        server: SocketAddr,
        /// The `connect_timeout` in force.
        timeout: Duration,
    },
    /// The PROXY protocol header could not be written to the server.
    #[error("sending the PROXY protocol header to {server}: {source}")]
    SendProxyHeader {
        /// The server.
        server: SocketAddr,
        /// The write error.
        #[source]
        source: io::Error,
    },
}

impl L4Error {
    /// The server this error is about, if any.
    #[must_use]
    pub fn server(&self) -> Option<SocketAddr> {
        match self {
            L4Error::NoServer => None,
            L4Error::Connect { server, .. }
            | L4Error::ConnectTimeout { server, .. }
            | L4Error::SendProxyHeader { server, .. } => Some(*server),
        }
    }
}
