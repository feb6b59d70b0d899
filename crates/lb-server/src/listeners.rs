//! Binding sockets and running accept loops.
//!
//! Every listener binds with `SO_REUSEADDR` + `SO_REUSEPORT` (several processes
//! can share a port, SPEC §4 "Scale-out") and a backlog of 1024. One accept
//! loop runs per TCP listener; each accepted connection gets `TCP_NODELAY`, one
//! span and one task, tracked by a [`TaskTracker`] so shutdown can wait for
//! in-flight work. `max_connections` is a semaphore taken *before* `accept`, so
//! beyond it new connections wait in the kernel backlog.
//!
//! Three tokens control a listener: `stop` ends the accept loop, `drain` asks
//! its connections to finish gracefully (HTTP: in-flight requests complete,
//! idle keep-alives close), `kill` drops whatever is still open.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, debug_span, warn, Instrument};

use crate::killable::UntilKilled;
use crate::metrics::listener::ConnectionGuard;
use crate::metrics::{ListenerMetrics, Metrics};
use crate::serve::Service;

/// The kernel accept queue length.
const BACKLOG: i32 = 1024;

/// A failure to bind, naming the listener and the address.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {what} on {addr}: {source}")]
pub(crate) struct BindError {
    /// What was being bound ("listener web", "admin").
    pub(crate) what: String,
    /// The address.
    pub(crate) addr: SocketAddr,
    /// The OS error.
    #[source]
    pub(crate) source: io::Error,
}

/// Bind a TCP listening socket with `SO_REUSEADDR`, `SO_REUSEPORT` and a
/// backlog of 1024. Must be called inside a tokio runtime.
pub(crate) fn bind_tcp(
    what: &str,
    addr: SocketAddr,
    reuse_port: bool,
) -> Result<TcpListener, BindError> {
    let err = |source| BindError {
        what: what.to_owned(),
        addr,
        source,
    };
    let socket = socket(addr, Type::STREAM, Protocol::TCP, reuse_port).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(BACKLOG).map_err(err)?;
    TcpListener::from_std(socket.into()).map_err(err)
}

/// Bind a UDP socket with `SO_REUSEADDR` and `SO_REUSEPORT` (the kernel then
/// spreads flows across processes by their address 4-tuple).
pub(crate) fn bind_udp(
    what: &str,
    addr: SocketAddr,
    reuse_port: bool,
) -> Result<tokio::net::UdpSocket, BindError> {
    let err = |source| BindError {
        what: what.to_owned(),
        addr,
        source,
    };
    let socket = socket(addr, Type::DGRAM, Protocol::UDP, reuse_port).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    tokio::net::UdpSocket::from_std(socket.into()).map_err(err)
}

fn socket(addr: SocketAddr, ty: Type, proto: Protocol, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Limits and options of one accept loop that reload may change.
#[derive(Debug)]
pub(crate) struct AcceptOptions {
    /// `max_connections`: permits of open connections.
    pub(crate) limit: Arc<Semaphore>,
    /// `accept_proxy_protocol`: read a PROXY v1/v2 header first, within this.
    pub(crate) proxy_protocol: Option<Duration>,
}

impl AcceptOptions {
    /// Options for `max_connections` (0 = unlimited) and the PROXY header.
    pub(crate) fn new(max_connections: usize, proxy_protocol: Option<Duration>) -> Self {
        let max = if max_connections == 0 {
            Semaphore::MAX_PERMITS
        } else {
            max_connections.min(Semaphore::MAX_PERMITS)
        };
        Self {
            limit: Arc::new(Semaphore::new(max)),
            proxy_protocol,
        }
    }
}

/// A running TCP accept loop and the handles that control it.
#[derive(Debug)]
pub(crate) struct Running {
    /// The listener's config name.
    pub(crate) name: Arc<str>,
    /// The bound address (with the real port when `:0` was asked).
    pub(crate) local: SocketAddr,
    /// The service connections are handed to; swapped by reload.
    pub(crate) service: Arc<ArcSwap<Service>>,
    /// Connection limit and PROXY option; swapped by reload.
    pub(crate) options: Arc<ArcSwap<AcceptOptions>>,
    /// Ends the accept loop.
    pub(crate) stop: CancellationToken,
    /// Asks connections to finish gracefully.
    pub(crate) drain: CancellationToken,
    /// Drops connections still open.
    pub(crate) kill: CancellationToken,
}

impl Running {
    /// Stop accepting and ask connections to drain; after `grace`, drop the
    /// ones still open.
    pub(crate) fn retire(&self, grace: Duration) {
        self.stop.cancel();
        self.drain.cancel();
        let kill = self.kill.clone();
        let name = Arc::clone(&self.name);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            debug!(listener = %name, "drain period over: closing remaining connections");
            kill.cancel();
        });
    }
}

/// Everything a connection task needs besides the socket.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    /// Tracks every connection task, for shutdown.
    pub(crate) tracker: TaskTracker,
    /// The process-wide shutdown token; listener tokens are its children.
    pub(crate) shutdown: CancellationToken,
    /// Metric families.
    pub(crate) metrics: Arc<Metrics>,
}

/// Start the accept loop of a bound TCP listener.
pub(crate) fn spawn_tcp(
    env: &Env,
    name: Arc<str>,
    listener: TcpListener,
    service: Service,
    options: AcceptOptions,
) -> io::Result<Running> {
    let local = listener.local_addr()?;
    let running = Running {
        name,
        local,
        service: Arc::new(ArcSwap::from_pointee(service)),
        options: Arc::new(ArcSwap::from_pointee(options)),
        stop: env.shutdown.child_token(),
        drain: env.shutdown.child_token(),
        kill: CancellationToken::new(),
    };
    let acceptor = Acceptor {
        env: env.clone(),
        name: Arc::clone(&running.name),
        local,
        service: Arc::clone(&running.service),
        options: Arc::clone(&running.options),
        drain: running.drain.clone(),
        kill: running.kill.clone(),
        metrics: env.metrics.listener(&running.name),
    };
    let stop = running.stop.clone();
    let span = debug_span!("listener", name = %running.name, addr = %local);
    tokio::spawn(acceptor.run(listener, stop).instrument(span));
    Ok(running)
}

struct Acceptor {
    env: Env,
    name: Arc<str>,
    local: SocketAddr,
    service: Arc<ArcSwap<Service>>,
    options: Arc<ArcSwap<AcceptOptions>>,
    drain: CancellationToken,
    kill: CancellationToken,
    metrics: ListenerMetrics,
}

impl Acceptor {
    async fn run(self, listener: TcpListener, stop: CancellationToken) {
        debug!("accepting");
        loop {
            let options = self.options.load_full();
            let permit = tokio::select! {
                () = stop.cancelled() => break,
                permit = Arc::clone(&options.limit).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    warn!(listener = %self.name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // TCP_NODELAY is set where the connection is served: an HTTP
            // connection needs it only once it is kept alive.
            let service = self.service.load_full();
            let counted = self.metrics.connection();
            let span = debug_span!("accept", listener = %self.name, client.addr = %peer, server.addr = %self.local);
            let serve = crate::serve::serve(
                &service,
                stream,
                peer,
                self.local,
                options.proxy_protocol,
                self.drain.clone(),
            );
            let task = ConnTask {
                inner: crate::killable::until_killed(serve, &self.kill),
                _permit: permit,
                _counted: counted,
            };
            // Entering a disabled span on every poll of the connection is
            // not free: instrument only when debug logging is on.
            if span.is_disabled() {
                self.env.tracker.spawn(task);
            } else {
                self.env.tracker.spawn(task.instrument(span));
            }
        }
        debug!("stopped accepting");
    }
}

pin_project_lite::pin_project! {
    /// One connection's task: its future, with the listener's connection
    /// permit and gauge held until it ends. A struct rather than an
    /// `async` block, which would keep what it captured beside the future
    /// it awaits: an idle connection costs what this holds.
    struct ConnTask<F> {
        #[pin]
        inner: UntilKilled<F>,
        _permit: OwnedSemaphorePermit,
        _counted: ConnectionGuard,
    }
}

impl<F: Future<Output = ()>> Future for ConnTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if ready!(self.project().inner.poll(cx)) {
            debug!("connection closed");
        } else {
            debug!("connection dropped at the end of the drain period");
        }
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_reuseport_listeners_share_a_port() {
        let a = bind_tcp("listener a", "127.0.0.1:0".parse().unwrap(), true).unwrap();
        let addr = a.local_addr().unwrap();
        let b = bind_tcp("listener b", addr, true).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        let u1 = bind_udp("listener u1", addr, true).unwrap();
        let u2 = bind_udp("listener u2", addr, true).unwrap();
        assert_eq!(u1.local_addr().unwrap(), u2.local_addr().unwrap());
    }

    #[tokio::test]
    async fn a_port_in_use_names_the_listener_and_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        for reuse_port in [true, false] {
            let err = bind_tcp("listener web", addr, reuse_port).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("cannot bind listener web on {addr}: ")),
                "{msg}"
            );
            assert_eq!(err.source.kind(), io::ErrorKind::AddrInUse);
        }
    }

    #[tokio::test]
    async fn an_exclusive_listener_refuses_a_second_one() {
        let a = bind_tcp("demo", "127.0.0.1:0".parse().unwrap(), false).unwrap();
        let addr = a.local_addr().unwrap();
        assert!(bind_tcp("demo again", addr, true).is_err());
    }

    #[test]
    fn zero_max_connections_is_unlimited() {
        assert_eq!(
            AcceptOptions::new(0, None).limit.available_permits(),
            Semaphore::MAX_PERMITS
        );
        assert_eq!(AcceptOptions::new(3, None).limit.available_permits(), 3);
    }
}
