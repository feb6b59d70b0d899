//! `TcpProxy` as a tower `Service`, and the `max_connections` permit.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::PollSemaphore;

use super::TcpProxy;
use crate::error::L4Error;
use crate::record::ConnectionRecord;

/// A slot under `max_connections`; the slot frees when this is dropped.
/// Unlimited proxies hand out empty permits.
#[must_use = "the slot is freed when the permit is dropped"]
pub struct ConnectionPermit(Option<OwnedSemaphorePermit>);

impl fmt::Debug for ConnectionPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectionPermit")
            .field(&self.0.is_some())
            .finish()
    }
}

impl ConnectionPermit {
    pub(super) async fn acquire(limit: Option<&Arc<Semaphore>>) -> Self {
        match limit {
            // The semaphore is never closed, so this only fails never.
            Some(sem) => Self(Arc::clone(sem).acquire_owned().await.ok()),
            None => Self(None),
        }
    }
}

/// Per-clone readiness: the permit `poll_ready` reserved for the next `call`.
pub(super) struct ReadyState {
    sem: Option<PollSemaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl ReadyState {
    pub(super) fn new(limit: Option<Arc<Semaphore>>) -> Self {
        Self {
            sem: limit.map(PollSemaphore::new),
            permit: None,
        }
    }

    /// The same limit, without the reserved permit (tower's `Clone` rule).
    pub(super) fn fresh(&self) -> Self {
        Self {
            sem: self.sem.clone(),
            permit: None,
        }
    }
}

/// The future of [`TcpProxy`]'s `Service::call`: one box per connection.
pub type ServeFuture = Pin<Box<dyn Future<Output = Result<ConnectionRecord, L4Error>> + Send>>;

/// Serve `(io, client, local)` as [`TcpProxy::serve_connection`] does.
///
/// With `max_connections` set, `poll_ready` waits for a slot and the
/// connection holds it until it ends: put `ready()` before `accept()`.
impl<I> tower_service::Service<(I, SocketAddr, SocketAddr)> for TcpProxy
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Response = ConnectionRecord;
    type Error = L4Error;
    type Future = ServeFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let ready = &mut self.ready;
        if ready.permit.is_none() {
            if let Some(sem) = &mut ready.sem {
                // `None` only if closed, which never happens: run unlimited.
                ready.permit = std::task::ready!(sem.poll_acquire(cx));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (io, client, local): (I, SocketAddr, SocketAddr)) -> Self::Future {
        let permit = self.ready.permit.take();
        let this = self.clone();
        Box::pin(async move {
            let result = this.serve_connection(io, client, local).await;
            drop(permit);
            result
        })
    }
}
