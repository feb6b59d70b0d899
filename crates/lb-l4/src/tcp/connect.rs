//! Pick a server and connect to it, trying others on failure.

use std::net::SocketAddr;
use std::time::Duration;

use lb_balance::hash::hash_ip;
use lb_balance::{Balancer, PickRequest};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::L4Error;
use crate::open::OpenConnection;
use lb_health::OutlierDetector;

use crate::passive;

/// A connected server, with the connection counted on its endpoint.
pub(crate) struct Connected {
    pub(crate) stream: TcpStream,
    pub(crate) server: SocketAddr,
    pub(crate) retries: u32,
    /// Held for the life of the connection, so `least_conn` counts it.
    pub(crate) _open: OpenConnection,
}

/// A failed attempt, for the caller's record.
pub(crate) struct Failed {
    pub(crate) error: L4Error,
    pub(crate) retries: u32,
}

/// Pick (hash key: the client's IP) and connect within `timeout`; on failure
/// count it on the endpoint and in passive detection and try another server,
/// `retries` times at most. The connect time is the endpoint's latency sample.
pub(crate) async fn connect(
    balancer: &Balancer<SocketAddr>,
    passive: Option<&OutlierDetector<SocketAddr>>,
    client: SocketAddr,
    timeout: Duration,
    retries: u32,
) -> Result<Connected, Failed> {
    let key = Some(hash_ip(client.ip()));
    // Allocated only when a connect fails.
    let mut tried: Vec<u64> = Vec::new();
    let mut error = L4Error::NoServer;
    for attempt in 0..=retries {
        let Some(endpoint) = balancer.pick(&PickRequest {
            key,
            exclude: &tried,
        }) else {
            break;
        };
        let server = *endpoint.value();
        let open = OpenConnection::new(endpoint.state().start());
        let started = Instant::now();
        match connect_one(server, timeout).await {
            Ok(stream) => {
                endpoint.state().record_latency(started.elapsed());
                passive::success(passive, &endpoint);
                // Interactive protocols must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok(Connected {
                    stream,
                    server,
                    retries: attempt,
                    _open: open,
                });
            }
            Err(e) => {
                tracing::debug!(%server, attempt, error = %e, "connect failed");
                passive::failure(passive, &endpoint);
                tried.push(endpoint.state().uid());
                error = e;
            }
        }
    }
    let retries = u32::try_from(tried.len().saturating_sub(1)).unwrap_or(u32::MAX);
    Err(Failed { error, retries })
}

async fn connect_one(server: SocketAddr, timeout: Duration) -> Result<TcpStream, L4Error> {
    let connect = TcpStream::connect(server);
    let result = if timeout.is_zero() {
        connect.await
    } else {
        match tokio::time::timeout(timeout, connect).await {
            Ok(r) => r,
            Err(_) => return Err(L4Error::ConnectTimeout { server, timeout }),
        }
    };
    result.map_err(|source| L4Error::Connect { server, source })
}
