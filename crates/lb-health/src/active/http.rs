//! [`HttpCheck`]: `GET path` over a fresh HTTP/1.1 connection.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONNECTION, HOST, USER_AGENT};
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use super::check::{AbortOnDrop, CheckFuture};
use super::error::CheckError;

/// An HTTP/1.1 probe: opens a new TCP connection, sends `GET path` with
/// `Connection: close`, and passes when the response status is in the
/// expected range. The body is not read.
#[derive(Debug, Clone)]
pub struct HttpCheck {
    spec: Arc<Spec>,
}

#[derive(Debug)]
struct Spec {
    path: String,
    host: Option<String>,
    expect: RangeInclusive<u16>,
}

impl HttpCheck {
    /// `GET path`, `Host` = the server's `ip:port`, expecting `200..=399`.
    #[must_use]
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            spec: Arc::new(Spec {
                path: path.into(),
                host: None,
                expect: 200..=399,
            }),
        }
    }

    /// Send this `Host` header (`None`: the server's `ip:port`).
    #[must_use]
    pub fn with_host(self, host: Option<String>) -> Self {
        self.map(|s| s.host = host)
    }

    /// Statuses that count as a pass.
    #[must_use]
    pub fn with_expect(self, expect: RangeInclusive<u16>) -> Self {
        self.map(|s| s.expect = expect)
    }

    fn map(self, f: impl FnOnce(&mut Spec)) -> Self {
        let mut spec = Spec {
            path: self.spec.path.clone(),
            host: self.spec.host.clone(),
            expect: self.spec.expect.clone(),
        };
        f(&mut spec);
        Self {
            spec: Arc::new(spec),
        }
    }
}

impl Service<SocketAddr> for HttpCheck {
    type Response = ();
    type Error = CheckError;
    type Future = CheckFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, addr: SocketAddr) -> Self::Future {
        let spec = Arc::clone(&self.spec);
        Box::pin(async move { probe(&spec, addr).await })
    }
}

async fn probe(spec: &Spec, addr: SocketAddr) -> Result<(), CheckError> {
    let host = match &spec.host {
        Some(h) => h.clone(),
        None => addr.to_string(),
    };
    let req = Request::get(spec.path.as_str())
        .header(HOST, host)
        .header(USER_AGENT, concat!("lb-health/", env!("CARGO_PKG_VERSION")))
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(CheckError::Request)?;

    let stream = TcpStream::connect(addr)
        .await
        .map_err(CheckError::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(CheckError::Http)?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::trace!(%error, "health check connection ended");
        }
    }));
    let resp = sender.send_request(req).await.map_err(CheckError::Http)?;
    let status = resp.status().as_u16();
    if spec.expect.contains(&status) {
        Ok(())
    } else {
        Err(CheckError::Status(status))
    }
}
