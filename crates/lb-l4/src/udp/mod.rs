//! UDP proxying: each client address is a flow pinned to one server, with
//! its own connected upstream socket; replies go back to the client from the
//! listener socket; a flow expires after `session_timeout` without traffic.

mod flow;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use lb_balance::hash::hash_ip;
use lb_balance::{Balancer, PickRequest};
use lb_health::OutlierDetector;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::open::OpenConnection;
use crate::record::ConnectionObserver;
use crate::stats::ListenerStats;
use flow::{Flow, FlowShared, FlowTask};

/// The largest UDP payload (65535 minus the IPv4 and UDP headers).
const MAX_DATAGRAM: usize = 65_507;

/// Options of a UDP listener. Build with `UdpOptions::default()` and set the
/// public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UdpOptions {
    /// A flow with no datagram either way for this long is closed and its
    /// upstream socket released (`session_timeout`). Default 30 s.
    pub session_timeout: Duration,
    /// At most this many flows at once; datagrams that would open another are
    /// dropped and counted in [`ListenerStats::rejected`]. Default 10 000.
    pub max_flows: usize,
}

impl Default for UdpOptions {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(30),
            max_flows: 10_000,
        }
    }
}

/// Proxies the datagrams of one UDP listener to the servers of one upstream.
pub struct UdpProxy {
    listener: Arc<str>,
    balancer: Arc<Balancer<SocketAddr>>,
    opts: UdpOptions,
    stats: Arc<ListenerStats>,
    observer: Option<Arc<dyn ConnectionObserver>>,
    passive: Option<Arc<OutlierDetector<SocketAddr>>>,
}

impl fmt::Debug for UdpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpProxy")
            .field("listener", &self.listener)
            .field("balancer", &self.balancer)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl UdpProxy {
    /// A proxy for the listener named `listener`, balancing over `balancer`.
    pub fn new(
        listener: impl Into<Arc<str>>,
        balancer: Arc<Balancer<SocketAddr>>,
        opts: UdpOptions,
    ) -> Self {
        Self {
            listener: listener.into(),
            balancer,
            opts,
            stats: Arc::new(ListenerStats::new()),
            observer: None,
            passive: None,
        }
    }

    /// Tell `observer` about every flow when it ends.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn ConnectionObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Report flow outcomes to passive outlier detection: a flow whose
    /// server socket failed (ICMP port unreachable) is a failure, one that
    /// got a reply a success.
    #[must_use]
    pub fn with_passive(mut self, passive: Arc<OutlierDetector<SocketAddr>>) -> Self {
        self.passive = Some(passive);
        self
    }

    /// Count into `stats` instead of fresh counters (keep one across reloads).
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<ListenerStats>) -> Self {
        self.stats = stats;
        self
    }

    /// The live counters: flows as connections, bytes, dropped datagrams.
    #[must_use]
    pub fn stats(&self) -> &Arc<ListenerStats> {
        &self.stats
    }

    /// Serve datagrams arriving on `socket` until `shutdown` is cancelled;
    /// then every flow closes (observed with
    /// [`CloseReason::Shutdown`](crate::CloseReason::Shutdown)).
    ///
    /// The flow table is owned by this loop alone (no lock); each flow's task
    /// relays the server's replies and ends the flow when it expires.
    pub async fn run(&self, socket: UdpSocket, shutdown: CancellationToken) {
        let socket = Arc::new(socket);
        let epoch = Instant::now();
        let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<(SocketAddr, u64)>();
        let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
        let mut next_id: u64 = 0;
        let mut buf = vec![0u8; MAX_DATAGRAM].into_boxed_slice();
        loop {
            let (n, client) = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some((client, id)) = ended_rx.recv() => {
                    if flows.get(&client).is_some_and(|f| f.id == id) {
                        flows.remove(&client);
                    }
                    continue;
                }
                r = socket.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    Err(error) => {
                        tracing::debug!(%error, "udp receive failed");
                        tokio::task::yield_now().await;
                        continue;
                    }
                },
            };
            if let Some(flow) = flows.get(&client).filter(|f| !f.shared.is_closed()) {
                flow.send_up(&buf[..n], false, &self.stats).await;
                continue;
            }
            flows.remove(&client);
            if flows.len() >= self.opts.max_flows {
                self.stats.rejected.fetch_add(1, Relaxed);
                tracing::debug!(%client, "max_flows reached, datagram dropped");
                continue;
            }
            next_id += 1;
            let ctx = NewFlow {
                socket: &socket,
                epoch,
                ended: &ended_tx,
                shutdown: &shutdown,
            };
            let Some(flow) = self.open_flow(client, next_id, ctx).await else {
                self.stats.rejected.fetch_add(1, Relaxed);
                continue;
            };
            flow.send_up(&buf[..n], true, &self.stats).await;
            flows.insert(client, flow);
        }
        // Dropping a flow cancels its task (they are children of `shutdown`
        // too, so they also end when the caller cancels it).
        drop(flows);
    }

    /// Pick a server for a new client and start its flow.
    async fn open_flow(&self, client: SocketAddr, id: u64, ctx: NewFlow<'_>) -> Option<Flow> {
        let req = PickRequest {
            key: Some(hash_ip(client.ip())),
            exclude: &[],
        };
        let Some(endpoint) = self.balancer.pick(&req) else {
            tracing::debug!(%client, "no server available, datagram dropped");
            return None;
        };
        let server = *endpoint.value();
        let open = OpenConnection::new(endpoint.state().start());
        let upstream = match connect(server).await {
            Ok(s) => Arc::new(s),
            Err(error) => {
                // Our socket, not the server's fault: not counted against it.
                tracing::debug!(%server, %error, "udp upstream socket failed");
                return None;
            }
        };
        let shared = Arc::new(FlowShared::new(ctx.epoch));
        let cancel = ctx.shutdown.child_token();
        let task = FlowTask {
            id,
            client,
            server,
            listener_name: Arc::clone(&self.listener),
            listener: Arc::clone(ctx.socket),
            upstream: Arc::clone(&upstream),
            shared: Arc::clone(&shared),
            endpoint,
            open,
            session_timeout: self.opts.session_timeout,
            stats: Arc::clone(&self.stats),
            observer: self.observer.clone(),
            passive: self.passive.clone(),
            ended: ctx.ended.clone(),
            cancel: cancel.clone(),
            shutdown: ctx.shutdown.clone(),
        };
        tracing::debug!(%client, %server, "udp flow opened");
        tokio::spawn(task.run());
        Some(Flow {
            id,
            upstream,
            shared,
            cancel,
        })
    }
}

/// What a new flow needs from the run loop.
struct NewFlow<'a> {
    socket: &'a Arc<UdpSocket>,
    epoch: Instant,
    ended: &'a mpsc::UnboundedSender<(SocketAddr, u64)>,
    shutdown: &'a CancellationToken,
}

/// A socket of the server's family on an ephemeral port, connected to it.
async fn connect(server: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    Ok(socket)
}
