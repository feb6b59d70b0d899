//! TCP proxying: pick a server, connect (trying others on failure), send an
//! optional PROXY header, then copy both ways with half-close and an idle
//! timeout.

mod connect;
mod copy;
mod options;
mod service;
#[cfg(target_os = "linux")]
mod splice;

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use lb_balance::Balancer;
use lb_health::OutlierDetector;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use options::TcpOptions;
pub use service::{ConnectionPermit, ServeFuture};

use crate::activity::Activity;
use crate::error::L4Error;
use crate::proxy_protocol;
use crate::record::{CloseReason, ConnectionObserver, ConnectionRecord};
use crate::stats::ListenerStats;
use copy::{CopyError, Side, Transferred};

/// Proxies accepted TCP connections to the servers of one upstream.
///
/// Cheap to clone (one `Arc`); clones share options, counters and the
/// connection limit. Use [`serve_connection`](Self::serve_connection)
/// directly, or as a tower `Service<(I, client, local)>`.
pub struct TcpProxy {
    inner: Arc<Inner>,
    /// Readiness state of the tower `Service` (the permit reserved by
    /// `poll_ready`); not shared between clones.
    ready: service::ReadyState,
}

#[derive(Clone)]
struct Inner {
    listener: Arc<str>,
    balancer: Arc<Balancer<SocketAddr>>,
    opts: TcpOptions,
    stats: Arc<ListenerStats>,
    limit: Option<Arc<Semaphore>>,
    passive: Option<Arc<OutlierDetector<SocketAddr>>>,
    observer: Option<Arc<dyn ConnectionObserver>>,
}

impl fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpProxy")
            .field("listener", &self.inner.listener)
            .field("balancer", &self.inner.balancer)
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl Clone for TcpProxy {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            ready: self.ready.fresh(),
        }
    }
}

impl TcpProxy {
    /// A proxy for the listener named `listener`, balancing over `balancer`.
    pub fn new(
        listener: impl Into<Arc<str>>,
        balancer: Arc<Balancer<SocketAddr>>,
        opts: TcpOptions,
    ) -> Self {
        let limit =
            (opts.max_connections > 0).then(|| Arc::new(Semaphore::new(opts.max_connections)));
        let inner = Inner {
            listener: listener.into(),
            balancer,
            opts,
            stats: Arc::new(ListenerStats::new()),
            limit: limit.clone(),
            passive: None,
            observer: None,
        };
        Self {
            inner: Arc::new(inner),
            ready: service::ReadyState::new(limit),
        }
    }

    /// Tell `observer` about every connection when it ends.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn ConnectionObserver>) -> Self {
        Arc::make_mut(&mut self.inner).observer = Some(observer);
        self
    }

    /// Count into `stats` instead of fresh counters (keep one across reloads).
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<ListenerStats>) -> Self {
        Arc::make_mut(&mut self.inner).stats = stats;
        self
    }

    /// Report every connect outcome to passive outlier detection: failed or
    /// timed-out connects are failures, the others successes. Without it,
    /// failures are only counted on the endpoint.
    #[must_use]
    pub fn with_passive(mut self, passive: Arc<OutlierDetector<SocketAddr>>) -> Self {
        Arc::make_mut(&mut self.inner).passive = Some(passive);
        self
    }

    /// The listener's name.
    #[must_use]
    pub fn listener(&self) -> &Arc<str> {
        &self.inner.listener
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &TcpOptions {
        &self.inner.opts
    }

    /// The balancer.
    #[must_use]
    pub fn balancer(&self) -> &Arc<Balancer<SocketAddr>> {
        &self.inner.balancer
    }

    /// The live counters of this listener.
    #[must_use]
    pub fn stats(&self) -> &Arc<ListenerStats> {
        &self.inner.stats
    }

    /// Wait for a slot under `max_connections` (immediately if unlimited).
    /// An accept loop calls this *before* `accept()`, so that connections
    /// beyond the limit wait in the kernel's backlog, and keeps the permit
    /// until the connection ends.
    pub async fn reserve(&self) -> ConnectionPermit {
        ConnectionPermit::acquire(self.inner.limit.as_ref()).await
    }

    /// Proxy one accepted connection to a server until both directions ended,
    /// the idle timeout struck, or an I/O error.
    ///
    /// `client` is the peer (or the PROXY header's source) and `local` the
    /// address it connected to; they are the hash key and the addresses of
    /// the PROXY header sent. The connection is counted on the chosen
    /// endpoint (`least_conn`) for its whole life; the connect time is its
    /// latency sample (`peak_ewma`). The observer hears of every connection,
    /// failed ones included.
    ///
    /// # Errors
    /// Only when no server could be reached ([`L4Error::NoServer`], or the
    /// last attempt's connect error) or the PROXY header could not be sent.
    /// A connection that was proxied returns `Ok`, however it ended
    /// ([`ConnectionRecord::close`]).
    pub async fn serve_connection<I>(
        &self,
        mut io: I,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Result<ConnectionRecord, L4Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = &*self.inner;
        let start = Instant::now();
        let _active = inner.stats.open();
        let opts = &inner.opts;
        let passive = inner.passive.as_deref();
        let connected = connect::connect(
            &inner.balancer,
            passive,
            client,
            opts.connect_timeout,
            opts.retry_attempts,
        )
        .await;
        let mut up = match connected {
            Ok(up) => up,
            Err(failed) => {
                inner.stats.rejected.fetch_add(1, Relaxed);
                let mut record = inner.record(client, None, start, CloseReason::NoServer);
                record.retries = failed.retries;
                inner.observe(&record);
                return Err(failed.error);
            }
        };
        if let Some(version) = opts.send_proxy_protocol {
            let mut header = Vec::with_capacity(64);
            proxy_protocol::encode(version, client, local, &mut header);
            if let Err(source) = up.stream.write_all(&header).await {
                let server = up.server;
                let mut record =
                    inner.record(client, Some(server), start, CloseReason::ServerError);
                record.retries = up.retries;
                inner.observe(&record);
                return Err(L4Error::SendProxyHeader { server, source });
            }
        }
        let activity = Activity::new(start);
        let mut moved = Transferred::default();
        let close = tokio::select! {
            r = inner.copy(&mut io, &mut up.stream, &mut moved, &activity) => match r {
                Ok(()) => CloseReason::Finished,
                Err(CopyError { side: Side::Client, error }) => {
                    tracing::debug!(%error, "client side failed");
                    CloseReason::ClientError
                }
                Err(CopyError { side: Side::Server, error }) => {
                    tracing::debug!(%error, "server side failed");
                    CloseReason::ServerError
                }
            },
            () = activity.idle(opts.idle_timeout) => CloseReason::IdleTimeout,
        };
        // Close both sockets and end the server's connection count before
        // the observer hears of it.
        let (server, retries) = (up.server, up.retries);
        drop((io, up));
        let mut record = inner.record(client, Some(server), start, close);
        record.bytes_up = moved.up;
        record.bytes_down = moved.down;
        record.retries = retries;
        tracing::debug!(
            %server,
            bytes_up = moved.up,
            bytes_down = moved.down,
            close = %close,
            "connection closed"
        );
        inner.observe(&record);
        Ok(record)
    }
}

impl Inner {
    fn record(
        &self,
        client: SocketAddr,
        server: Option<SocketAddr>,
        start: Instant,
        close: CloseReason,
    ) -> ConnectionRecord {
        ConnectionRecord {
            listener: Arc::clone(&self.listener),
            client,
            server,
            bytes_up: 0,
            bytes_down: 0,
            duration: start.elapsed(),
            close,
            retries: 0,
        }
    }

    fn observe(&self, record: &ConnectionRecord) {
        if let Some(observer) = &self.observer {
            observer.on_connection(record);
        }
    }

    /// Copy both ways, with `splice(2)` when enabled and both ends are TCP
    /// sockets, else in user space.
    async fn copy<I>(
        &self,
        io: &mut I,
        server: &mut TcpStream,
        moved: &mut Transferred,
        activity: &Activity,
    ) -> Result<(), CopyError>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (size, stats) = (self.opts.buffer_size, &*self.stats);
        #[cfg(target_os = "linux")]
        if self.opts.splice {
            if let Some(client) = splice::SpliceClient::from_any(io as &mut dyn Any) {
                match splice::Pipes::new(self.opts.pipe_size) {
                    Ok(pipes) => return pipes.run(client, server, moved, stats, activity).await,
                    Err(error) => tracing::debug!(%error, "no pipe for splice, copying instead"),
                }
            }
        }
        copy::copy_bidirectional(io, server, size, moved, stats, activity).await
    }
}
