//! What an accepted TCP connection is handed to: an HTTP listener (lb-l7) or a
//! TCP proxy (lb-l4), after the optional PROXY protocol header.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// The service of a TCP listener; reload swaps it whole.
#[derive(Debug, Clone)]
pub(crate) enum Service {
    /// `protocol = "http"`.
    Http(Arc<lb_l7::HttpListener>),
    /// `protocol = "tcp"`.
    Tcp(Arc<lb_l4::TcpProxy>),
}

/// Serve one accepted connection until it ends or `drain` asks it to finish.
///
/// Built here, not by an `async fn`: a plain HTTP connection's future is
/// then lb-l7's own and nothing more (an idle connection costs what its
/// task holds); every other path is boxed.
pub(crate) fn serve(
    service: &Service,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    proxy_protocol: Option<Duration>,
    drain: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    match (service, proxy_protocol) {
        (Service::Http(listener), None) => {
            let info = lb_l7::ConnInfo::new(peer, local);
            Either::Left(listener.serve_connection(stream, info, drain))
        }
        (_, None) => {
            nodelay(&stream);
            let service = service.clone();
            Either::Right(Box::pin(async move {
                serve_io(&service, stream, peer, peer, local, drain).await;
            }) as Pin<Box<dyn Future<Output = ()> + Send>>)
        }
        (_, Some(timeout)) => {
            nodelay(&stream);
            let service = service.clone();
            Either::Right(Box::pin(async move {
                serve_proxied(&service, stream, peer, local, timeout, drain).await;
            }) as Pin<Box<dyn Future<Output = ()> + Send>>)
        }
    }
}

/// `TCP_NODELAY` for connections served byte for byte or after a PROXY
/// header (plain HTTP sets it itself, once a connection is kept alive).
fn nodelay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%error, "TCP_NODELAY");
    }
}

/// [`serve`] after a PROXY protocol header.
async fn serve_proxied(
    service: &Service,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    timeout: Duration,
    drain: CancellationToken,
) {
    match lb_l4::proxy_protocol::accept(stream, timeout).await {
        Ok((header, io)) => {
            // A `LOCAL` command or an `UNKNOWN` family carries no address:
            // the connection is the proxy's own (e.g. a health check).
            let client = header.source.unwrap_or(peer);
            serve_io(service, io, peer, client, local, drain).await;
        }
        Err(error) => debug!(%error, "bad PROXY protocol header: closing"),
    }
}

async fn serve_io<I>(
    service: &Service,
    io: I,
    peer: SocketAddr,
    client: SocketAddr,
    local: SocketAddr,
    drain: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match service {
        Service::Http(listener) => {
            let info = lb_l7::ConnInfo::new(peer, local).with_client(client);
            listener.serve_connection(io, info, drain).await;
        }
        Service::Tcp(proxy) => {
            // TCP connections are not interrupted by a drain: they run to
            // their end, cut off only when the drain period is over.
            if let Err(error) = proxy.serve_connection(io, client, local).await {
                debug!(%error, "tcp connection failed");
            }
        }
    }
}
