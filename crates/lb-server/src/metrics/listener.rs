//! Per-listener counters: `lb_connections_active`, `lb_connections_total`
//! and `lb_bytes_total`, plus the request count `/status` shows.
//!
//! One [`ListenerCell`] per listener name lives as long as the process, so the
//! counters go on across reloads. Two sources feed it:
//! - http listeners: the accept loop counts connections through
//!   [`ListenerMetrics::connection`] and the request observer adds body bytes;
//! - tcp and udp listeners: lb-l4 counts connections (or UDP flows) and bytes
//!   live, as they flow, in the `lb_l4::ListenerStats` handed out by
//!   [`Metrics::l4_stats`](super::Metrics::l4_stats); once a listener has one,
//!   it is the source of all three series for that listener.
//!
//! Values are read at scrape time by [`ListenersCollector`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::Direction;

/// The counters of one listener name.
#[derive(Debug, Default)]
pub(crate) struct ListenerCell {
    connections_active: AtomicI64,
    connections_total: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    requests: AtomicU64,
    /// Set when the listener is (or was) a tcp/udp listener.
    l4: OnceLock<Arc<lb_l4::ListenerStats>>,
}

/// What `/status` and the collector read of a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ListenerCounts {
    pub(crate) connections_active: i64,
    pub(crate) connections_total: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    /// HTTP requests answered (0 for tcp/udp).
    pub(crate) requests: u64,
}

impl ListenerCell {
    pub(crate) fn counts(&self) -> ListenerCounts {
        let requests = self.requests.load(Relaxed);
        match self.l4.get() {
            Some(s) => ListenerCounts {
                connections_active: i64::try_from(s.connections_active.load(Relaxed))
                    .unwrap_or(i64::MAX),
                connections_total: s.connections_total.load(Relaxed),
                bytes_in: s.bytes_up.load(Relaxed),
                bytes_out: s.bytes_down.load(Relaxed),
                requests,
            },
            None => ListenerCounts {
                connections_active: self.connections_active.load(Relaxed),
                connections_total: self.connections_total.load(Relaxed),
                bytes_in: self.bytes_in.load(Relaxed),
                bytes_out: self.bytes_out.load(Relaxed),
                requests,
            },
        }
    }

    #[allow(dead_code)] // see `Metrics::l4_stats`
    pub(crate) fn l4_stats(&self) -> Arc<lb_l4::ListenerStats> {
        Arc::clone(self.l4.get_or_init(Default::default))
    }
}

/// Every listener's cell, by name; locked only when a listener is set up and
/// at scrape time, never per request.
pub(crate) type Cells = Arc<Mutex<BTreeMap<Arc<str>, Arc<ListenerCell>>>>;

/// The cell of `name`, created on first use.
pub(crate) fn cell(cells: &Cells, name: &str) -> (Arc<str>, Arc<ListenerCell>) {
    let mut map = cells
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((k, v)) = map.get_key_value(name) {
        return (Arc::clone(k), Arc::clone(v));
    }
    let key: Arc<str> = Arc::from(name);
    let value = Arc::new(ListenerCell::default());
    map.insert(Arc::clone(&key), Arc::clone(&value));
    (key, value)
}

/// Handles of one listener's counters.
#[derive(Debug, Clone)]
pub(crate) struct ListenerMetrics {
    name: Arc<str>,
    cell: Arc<ListenerCell>,
}

impl ListenerMetrics {
    pub(crate) fn new((name, cell): (Arc<str>, Arc<ListenerCell>)) -> Self {
        Self { name, cell }
    }

    /// The listener's name.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Count one accepted connection until the guard is dropped.
    pub(crate) fn connection(&self) -> ConnectionGuard {
        self.cell.connections_total.fetch_add(1, Relaxed);
        self.cell.connections_active.fetch_add(1, Relaxed);
        ConnectionGuard {
            cell: Arc::clone(&self.cell),
        }
    }

    /// Body bytes one way (http listeners).
    pub(crate) fn bytes(&self, direction: Direction, n: u64) {
        let counter = match direction {
            Direction::In => &self.cell.bytes_in,
            Direction::Out => &self.cell.bytes_out,
        };
        counter.fetch_add(n, Relaxed);
    }

    /// One HTTP request answered.
    pub(crate) fn count_request(&self) {
        self.cell.requests.fetch_add(1, Relaxed);
    }
}

/// Counts one open connection in `lb_connections_active` until dropped.
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    cell: Arc<ListenerCell>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.cell.connections_active.fetch_sub(1, Relaxed);
    }
}

/// Encodes the listener series from every cell.
pub(crate) struct ListenersCollector(pub(crate) Cells);

impl fmt::Debug for ListenersCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenersCollector").finish_non_exhaustive()
    }
}

impl Collector for ListenersCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let counts: Vec<(Arc<str>, ListenerCounts)> = {
            let map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.iter()
                .map(|(k, v)| (Arc::clone(k), v.counts()))
                .collect()
        };
        if counts.is_empty() {
            return Ok(());
        }
        let mut m = encoder.encode_descriptor(
            "lb_connections_active",
            "Client connections (udp: flows) open now.",
            None,
            MetricType::Gauge,
        )?;
        for (name, c) in &counts {
            ConstGauge::new(c.connections_active)
                .encode(m.encode_family(&[("listener", &**name)])?)?;
        }
        let mut m = encoder.encode_descriptor(
            "lb_connections",
            "Client connections (udp: flows) accepted.",
            None,
            MetricType::Counter,
        )?;
        for (name, c) in &counts {
            ConstCounter::new(c.connections_total)
                .encode(m.encode_family(&[("listener", &**name)])?)?;
        }
        let mut m = encoder.encode_descriptor(
            "lb_bytes",
            "Bytes received from (in) and sent to (out) clients: bodies for http, the stream for tcp/udp.",
            None,
            MetricType::Counter,
        )?;
        for (name, c) in &counts {
            for (direction, value) in [(Direction::In, c.bytes_in), (Direction::Out, c.bytes_out)] {
                let labels = [("listener", &**name), ("direction", direction.as_str())];
                ConstCounter::new(value).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
