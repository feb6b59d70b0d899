//! Why a built-in probe failed.

use std::io;

/// A failed active check, from the built-in probes.
///
/// Custom probes may fail with any error; the [`Checker`](super::Checker)
/// only cares that they failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The TCP connection could not be established.
    #[error("connect failed")]
    Connect(#[source] io::Error),
    /// The check request could not be built (bad path or `Host` value).
    #[error("invalid check request")]
    Request(#[source] http::Error),
    /// The HTTP exchange failed (protocol error, connection closed early).
    #[error("http exchange failed")]
    Http(#[source] hyper::Error),
    /// The connection ended before a response arrived.
    #[error("connection closed before the response")]
    Closed,
    /// The response status is outside the expected range (HTTP), or not 200
    /// (gRPC).
    #[error("unexpected status {0}")]
    Status(u16),
    /// The gRPC call failed with this `grpc-status` (absent = `None`).
    #[error("grpc-status {}", .0.as_deref().unwrap_or("missing"))]
    GrpcStatus(Option<String>),
    /// The server answered with this serving status instead of `SERVING`
    /// (0 unknown, 2 not serving, 3 service unknown).
    #[error("serving status {0}, not SERVING")]
    NotServing(u64),
    /// The gRPC response body could not be decoded.
    #[error("malformed grpc response: {0}")]
    Malformed(&'static str),
}
