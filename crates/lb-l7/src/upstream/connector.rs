//! Opens connections to servers for the pooled client: TCP with a connect
//! timeout and `TCP_NODELAY`, then TLS with the configured server name and
//! ALPN when the upstream has TLS.
//!
//! The client addresses a server by the authority of the request URI, which
//! the proxy sets to the server's `ip:port`; the pool is therefore one per
//! server, and the TLS name comes from the upstream, never from the URI.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::ConnectError;
use crate::options::UpstreamTls;

/// A `tower::Service<Uri>` giving hyper-util's client its connections.
#[derive(Clone)]
pub(crate) struct Connector {
    timeout: Duration,
    tls: Option<(ServerName<'static>, TlsConnector)>,
}

impl Connector {
    pub(crate) fn new(timeout: Duration, tls: Option<&UpstreamTls>) -> Self {
        Self {
            timeout,
            tls: tls.map(|t| {
                (
                    t.server_name.clone(),
                    TlsConnector::from(Arc::clone(&t.config)),
                )
            }),
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<ServerStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let addr: Option<SocketAddr> = uri.authority().and_then(|a| a.as_str().parse().ok());
        let this = self.clone();
        Box::pin(async move {
            let addr = addr.ok_or(ConnectError::Address(uri))?;
            this.connect(addr).await
        })
    }
}

impl Connector {
    /// Whether connections are plain TCP (no TLS).
    pub(crate) fn is_plain(&self) -> bool {
        self.tls.is_none()
    }

    /// A plain TCP connection to `addr` (`TCP_NODELAY`), within the
    /// connect timeout.
    pub(crate) async fn connect_tcp(&self, addr: SocketAddr) -> Result<TcpStream, ConnectError> {
        match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                Ok(tcp)
            }
            Ok(Err(e)) => Err(ConnectError::Tcp(e)),
            Err(_) => Err(ConnectError::Timeout(self.timeout)),
        }
    }

    /// Open a connection to `addr`: TCP (`TCP_NODELAY`), then TLS if the
    /// upstream has it, all within the connect timeout.
    pub(crate) async fn connect(
        &self,
        addr: SocketAddr,
    ) -> Result<TokioIo<ServerStream>, ConnectError> {
        let tls = self.tls.clone();
        let connect = async move {
            let tcp = TcpStream::connect(addr).await.map_err(ConnectError::Tcp)?;
            let _ = tcp.set_nodelay(true);
            match tls {
                None => Ok(ServerStream::Plain(tcp)),
                Some((name, connector)) => connector
                    .connect(name, tcp)
                    .await
                    .map(|s| ServerStream::Tls(Box::new(s)))
                    .map_err(ConnectError::Tls),
            }
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(res) => res.map(TokioIo::new),
            Err(_) => Err(ConnectError::Timeout(self.timeout)),
        }
    }
}

/// A connection to a server, plain or TLS.
#[derive(Debug)]
pub(crate) enum ServerStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for ServerStream {
    fn connected(&self) -> Connected {
        match self {
            ServerStream::Plain(_) => Connected::new(),
            ServerStream::Tls(s) => {
                if s.get_ref().1.alpn_protocol() == Some(b"h2") {
                    Connected::new().negotiated_h2()
                } else {
                    Connected::new()
                }
            }
        }
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ServerStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ServerStream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerStream::Plain(s) => s.is_write_vectored(),
            ServerStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
