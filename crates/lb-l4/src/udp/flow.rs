//! One UDP flow: a client address pinned to a server, its upstream socket,
//! and the task relaying the server's replies until the flow expires.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use lb_balance::Endpoint;
use lb_health::OutlierDetector;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::MAX_DATAGRAM;
use crate::open::OpenConnection;
use crate::record::{CloseReason, ConnectionObserver, ConnectionRecord};
use crate::stats::ListenerStats;

/// Replies handled per wake-up before yielding to other flows.
const BATCH: usize = 64;

thread_local! {
    /// One receive buffer per worker thread, shared by every flow on it: a
    /// reply is received and sent on without an `.await` in between, so a
    /// flow costs a socket and a task, not 64 KiB.
    static BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; MAX_DATAGRAM].into_boxed_slice());
}

/// State shared by the run loop (client → server) and the flow task.
#[derive(Debug)]
pub(super) struct FlowShared {
    epoch: Instant,
    /// Last datagram either way, in ns since `epoch`.
    last_ns: AtomicU64,
    closed: AtomicBool,
    /// The run loop's send to the server failed (e.g. ICMP port unreachable).
    failed: AtomicBool,
    bytes_up: AtomicU64,
}

impl FlowShared {
    pub(super) fn new(epoch: Instant) -> Self {
        let shared = Self {
            epoch,
            last_ns: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            bytes_up: AtomicU64::new(0),
        };
        shared.touch();
        shared
    }

    fn touch(&self) {
        let ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_ns.store(ns, Relaxed);
    }

    fn deadline(&self, timeout: Duration) -> Instant {
        self.epoch + Duration::from_nanos(self.last_ns.load(Relaxed)) + timeout
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }
}

/// The run loop's handle on a flow. Dropping it ends the flow's task.
#[derive(Debug)]
pub(super) struct Flow {
    pub(super) id: u64,
    pub(super) upstream: Arc<UdpSocket>,
    pub(super) shared: Arc<FlowShared>,
    pub(super) cancel: CancellationToken,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Flow {
    /// Forward one client datagram to the server. Never waits: a full socket
    /// buffer drops the datagram (counted), as the network would.
    pub(super) async fn send_up(&self, data: &[u8], first: bool, stats: &ListenerStats) {
        // A new socket's writability is not known to the reactor yet.
        let sent = if first {
            self.upstream.send(data).await
        } else {
            self.upstream.try_send(data)
        };
        match sent {
            Ok(n) => {
                self.shared.bytes_up.fetch_add(n as u64, Relaxed);
                stats.bytes_up.fetch_add(n as u64, Relaxed);
                self.shared.touch();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stats.rejected.fetch_add(1, Relaxed);
            }
            Err(error) => {
                tracing::debug!(%error, "udp send to server failed, flow closed");
                self.shared.failed.store(true, Relaxed);
                self.shared.closed.store(true, Relaxed);
                self.cancel.cancel();
            }
        }
    }
}

/// The task half of a flow.
pub(super) struct FlowTask {
    pub(super) id: u64,
    pub(super) client: SocketAddr,
    pub(super) server: SocketAddr,
    pub(super) listener_name: Arc<str>,
    pub(super) listener: Arc<UdpSocket>,
    pub(super) upstream: Arc<UdpSocket>,
    pub(super) shared: Arc<FlowShared>,
    pub(super) endpoint: Endpoint<SocketAddr>,
    /// Counts the flow on its endpoint until the task ends.
    pub(super) open: OpenConnection,
    pub(super) session_timeout: Duration,
    pub(super) stats: Arc<ListenerStats>,
    pub(super) observer: Option<Arc<dyn ConnectionObserver>>,
    pub(super) passive: Option<Arc<OutlierDetector<SocketAddr>>>,
    pub(super) ended: mpsc::UnboundedSender<(SocketAddr, u64)>,
    pub(super) cancel: CancellationToken,
    pub(super) shutdown: CancellationToken,
}

impl FlowTask {
    pub(super) async fn run(self) {
        let _active = self.stats.open();
        let started = Instant::now();
        let mut bytes_down = 0u64;
        let close = self.relay(&mut bytes_down).await;
        self.shared.closed.store(true, Relaxed);
        // The server failed (ICMP port unreachable), or answered.
        let passive = self.passive.as_deref();
        if close == CloseReason::ServerError {
            crate::passive::failure(passive, &self.endpoint);
        } else if bytes_down > 0 {
            crate::passive::success(passive, &self.endpoint);
        }
        // The flow no longer counts on its server when the observer hears of it.
        drop(self.open);
        tracing::debug!(client = %self.client, server = %self.server, close = %close, "udp flow closed");
        if let Some(observer) = &self.observer {
            observer.on_connection(&ConnectionRecord {
                listener: Arc::clone(&self.listener_name),
                client: self.client,
                server: Some(self.server),
                bytes_up: self.shared.bytes_up.load(Relaxed),
                bytes_down,
                duration: started.elapsed(),
                close,
                retries: 0,
            });
        }
        let _ = self.ended.send((self.client, self.id));
    }

    /// Relay replies until the flow expires, fails or is cancelled.
    async fn relay(&self, bytes_down: &mut u64) -> CloseReason {
        let sleep = tokio::time::sleep_until(self.shared.deadline(self.session_timeout));
        tokio::pin!(sleep);
        loop {
            let deadline = self.shared.deadline(self.session_timeout);
            if Instant::now() >= deadline {
                return CloseReason::Finished;
            }
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            let ready = tokio::select! {
                () = self.cancel.cancelled() => {
                    return if self.shutdown.is_cancelled() {
                        CloseReason::Shutdown
                    } else {
                        CloseReason::ServerError
                    };
                }
                () = &mut sleep => continue,
                r = self.upstream.ready(Interest::READABLE | Interest::ERROR) => r,
            };
            match ready {
                Ok(r) if r.is_error() => {
                    let error = self.upstream.take_error().ok().flatten();
                    tracing::debug!(?error, "udp server socket error");
                    return CloseReason::ServerError;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "udp server socket failed");
                    return CloseReason::ServerError;
                }
            }
            if let Err(error) = self.relay_ready(bytes_down) {
                tracing::debug!(%error, "udp receive from server failed");
                return CloseReason::ServerError;
            }
        }
    }

    /// Receive what the server sent (up to a batch) and send it to the client.
    fn relay_ready(&self, bytes_down: &mut u64) -> io::Result<()> {
        BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            for _ in 0..BATCH {
                let n = match self.upstream.try_recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                };
                self.shared.touch();
                match self.listener.try_send_to(&buf[..n], self.client) {
                    Ok(sent) => {
                        *bytes_down += sent as u64;
                        self.stats.bytes_down.fetch_add(sent as u64, Relaxed);
                    }
                    // The client's side is not ours to fail the flow for.
                    Err(error) => {
                        tracing::trace!(%error, "udp reply to client dropped");
                        self.stats.rejected.fetch_add(1, Relaxed);
                    }
                }
            }
            Ok(())
        })
    }
}
