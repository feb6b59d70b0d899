//! [`TcpCheck`]: passes when a TCP connection can be established.

use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::net::TcpStream;
use tower_service::Service;

use super::check::CheckFuture;
use super::error::CheckError;

/// A TCP connect probe: passes when the connection is established, then
/// closes it at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpCheck {
    _priv: (),
}

impl TcpCheck {
    /// A new TCP probe.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Service<SocketAddr> for TcpCheck {
    type Response = ();
    type Error = CheckError;
    type Future = CheckFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, addr: SocketAddr) -> Self::Future {
        Box::pin(async move {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(CheckError::Connect)?;
            drop(stream);
            Ok(())
        })
    }
}
