//! Live counters of one listener, read by the metrics endpoint at scrape time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters behind `lb_connections_active{listener}`,
/// `lb_connections_total{listener}` and `lb_bytes_total{listener,direction}`.
///
/// Updated with relaxed atomics while traffic flows (bytes per chunk, not at
/// the end of a connection), so a scrape sees long-lived connections too.
/// Share one across reloads (`with_stats`) to keep the counters going.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ListenerStats {
    /// TCP connections being served, or UDP flows open.
    pub connections_active: AtomicU64,
    /// TCP connections accepted, or UDP flows opened, since start.
    pub connections_total: AtomicU64,
    /// Bytes from clients to servers.
    pub bytes_up: AtomicU64,
    /// Bytes from servers to clients.
    pub bytes_down: AtomicU64,
    /// Connections that reached no server (TCP), or datagrams dropped (UDP:
    /// `max_flows` reached, no server, or the upstream socket full).
    pub rejected: AtomicU64,
}

impl ListenerStats {
    /// Fresh zeroed counters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn open(&self) -> ActiveGuard<'_> {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_active.fetch_add(1, Relaxed);
        ActiveGuard(self)
    }
}

/// Decrements `connections_active` when dropped.
pub(crate) struct ActiveGuard<'a>(&'a ListenerStats);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Relaxed);
    }
}
