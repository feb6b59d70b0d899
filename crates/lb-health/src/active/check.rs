//! [`Check`]: the built-in probe chosen by a [`CheckKind`], and what the
//! probes share.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;
use tower_service::Service;

use super::error::CheckError;
use super::{CheckKind, GrpcCheck, HttpCheck, TcpCheck};

/// The future of a built-in probe. Boxed: a probe runs once per interval per
/// server, far from the request path.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'static>>;

/// One of the built-in probes, as chosen by a [`CheckKind`].
#[derive(Debug, Clone)]
pub struct Check {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Tcp(TcpCheck),
    Http(HttpCheck),
    Grpc(GrpcCheck),
}

impl Check {
    /// The probe for `kind`.
    #[must_use]
    pub fn new(kind: &CheckKind) -> Self {
        let inner = match kind {
            CheckKind::Tcp => Inner::Tcp(TcpCheck::new()),
            CheckKind::Http { path, host, expect } => Inner::Http(
                HttpCheck::new(path.as_str())
                    .with_host(host.clone())
                    .with_expect(expect.clone()),
            ),
            CheckKind::Grpc { service } => Inner::Grpc(GrpcCheck::new(service.as_str())),
        };
        Self { inner }
    }
}

impl From<TcpCheck> for Check {
    fn from(check: TcpCheck) -> Self {
        Self {
            inner: Inner::Tcp(check),
        }
    }
}

impl From<HttpCheck> for Check {
    fn from(check: HttpCheck) -> Self {
        Self {
            inner: Inner::Http(check),
        }
    }
}

impl From<GrpcCheck> for Check {
    fn from(check: GrpcCheck) -> Self {
        Self {
            inner: Inner::Grpc(check),
        }
    }
}

impl Service<SocketAddr> for Check {
    type Response = ();
    type Error = CheckError;
    type Future = CheckFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Every built-in probe is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, addr: SocketAddr) -> Self::Future {
        match &mut self.inner {
            Inner::Tcp(c) => c.call(addr),
            Inner::Http(c) => c.call(addr),
            Inner::Grpc(c) => c.call(addr),
        }
    }
}

/// Aborts a spawned connection driver when the probe ends or is dropped
/// (e.g. by the check timeout).
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
