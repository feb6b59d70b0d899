//! Per-connection metrics and access log of one `tcp` listener.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Direction, ListenerMetrics};

/// What one finished TCP connection was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionOutcome<'a> {
    pub(crate) client: SocketAddr,
    pub(crate) server: Option<SocketAddr>,
    /// How it ended (`lb_l4::CloseReason::as_str`).
    pub(crate) close: &'a str,
    /// Client → server.
    pub(crate) bytes_up: u64,
    /// Server → client.
    pub(crate) bytes_down: u64,
    pub(crate) duration: Duration,
}

/// The access log of one `tcp` or `udp` listener: a line per connection or
/// flow, and its bytes when the connection ends (unless lb-l4 counts them
/// live, see `Metrics::l4_stats`).
#[derive(Debug)]
pub(crate) struct TcpMetrics {
    listener: ListenerMetrics,
}

impl TcpMetrics {
    pub(super) fn new(listener: ListenerMetrics) -> Self {
        Self { listener }
    }

    /// Record one finished connection.
    pub(crate) fn record(&self, o: &ConnectionOutcome<'_>) {
        // Only a fallback: once lb-l4 counts this listener live (see
        // `Metrics::l4_stats`), the scrape reads its counters instead.
        self.listener.bytes(Direction::In, o.bytes_up);
        self.listener.bytes(Direction::Out, o.bytes_down);
        crate::logging::access_tcp(self.listener.name(), o);
    }
}

impl lb_l4::ConnectionObserver for TcpMetrics {
    fn on_connection(&self, r: &lb_l4::ConnectionRecord) {
        self.record(&ConnectionOutcome {
            client: r.client,
            server: r.server,
            close: r.close.as_str(),
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            duration: r.duration,
        });
    }
}
