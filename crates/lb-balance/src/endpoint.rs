//! One endpoint (a server) and its shared, lock-free state.
//!
//! [`EndpointState`] is the seam between the crates: `lb-health` writes the
//! health flags, the proxies bump the in-flight counter through [`InFlight`]
//! guards, and every algorithm reads it. It lives behind an `Arc` and is kept
//! across membership changes for endpoints whose id stays (see
//! [`Balancer::update`](crate::Balancer::update)).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stable identity of an endpoint: for servers, `"host:port"` as written in
/// the configuration (or the resolved `"ip:port"`). Hash algorithms hash these
/// bytes, so two instances with the same ids make the same picks.
pub type EndpointId = Arc<str>;

/// What an endpoint is doing, as reported to operators.
///
/// When several conditions hold the most restrictive wins, in the order
/// `Draining` > `Ejected` > `Unhealthy` > `Healthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Health {
    /// Takes traffic.
    Healthy,
    /// Active checks failed `unhealthy_threshold` times in a row.
    Unhealthy,
    /// Passive outlier detection ejected it for a while.
    Ejected,
    /// An operator drains it: no new requests, in-flight ones finish.
    Draining,
}

impl Health {
    /// The lower-case name used in the admin API and logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Ejected => "ejected",
            Health::Draining => "draining",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// Counters kept per endpoint for operators and for `lb-health`.
///
/// All are plain relaxed atomics; readers merge nothing and take no lock.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Requests (L7) or connections (L4) sent to this endpoint.
    pub requests: AtomicU64,
    /// Of those, the ones that failed (5xx, connect error, reset, timeout).
    pub failures: AtomicU64,
    /// Active health checks that passed.
    pub checks_ok: AtomicU64,
    /// Active health checks that failed.
    pub checks_failed: AtomicU64,
    /// Times passive outlier detection ejected this endpoint.
    pub ejections: AtomicU64,
    /// Failures in a row seen by passive detection (reset by a success).
    pub consecutive_failures: AtomicU32,
}

/// The shared state of one endpoint: health flags, load and counters.
///
/// Cheap to read from any thread; every field is an atomic.
pub struct EndpointState {
    uid: u64,
    unhealthy: AtomicBool,
    ejected: AtomicBool,
    draining: AtomicBool,
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
    /// Peak-EWMA latency estimate in nanoseconds (f64 bits).
    ewma_ns: AtomicU64,
    /// When `ewma_ns` was last updated, in ns since `epoch`.
    ewma_stamp: AtomicU64,
    epoch: Instant,
    /// Counters for operators and health detection.
    pub stats: EndpointStats,
}

impl fmt::Debug for EndpointState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointState")
            .field("uid", &self.uid)
            .field("health", &self.health())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Default for EndpointState {
    fn default() -> Self {
        Self::new()
    }
}

/// Default latency estimate before any response was seen (as linkerd: 1s
/// would be too pessimistic for loopback, so start small but non-zero).
const DEFAULT_RTT_NS: f64 = 1_000_000.0;
/// Decay window of the peak-EWMA estimate.
const EWMA_DECAY_NS: f64 = 10_000_000_000.0;

impl EndpointState {
    /// A new, healthy endpoint state with no load.
    #[must_use]
    pub fn new() -> Self {
        Self {
            uid: NEXT_UID.fetch_add(1, Relaxed),
            unhealthy: AtomicBool::new(false),
            ejected: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            max_in_flight: AtomicU32::new(0),
            ewma_ns: AtomicU64::new(DEFAULT_RTT_NS.to_bits()),
            ewma_stamp: AtomicU64::new(0),
            epoch: Instant::now(),
            stats: EndpointStats::default(),
        }
    }

    /// A process-unique number for this state; used to exclude endpoints
    /// already tried by a retry (see [`PickRequest::exclude`](crate::PickRequest)).
    #[must_use]
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// The state to report, most restrictive first.
    #[must_use]
    pub fn health(&self) -> Health {
        if self.draining.load(Relaxed) {
            Health::Draining
        } else if self.ejected.load(Relaxed) {
            Health::Ejected
        } else if self.unhealthy.load(Relaxed) {
            Health::Unhealthy
        } else {
            Health::Healthy
        }
    }

    /// Healthy, not ejected, not draining (connection limit not considered).
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        !(self.draining.load(Relaxed) || self.ejected.load(Relaxed) || self.unhealthy.load(Relaxed))
    }

    /// Whether a new request or connection may go here now: healthy and
    /// below its connection limit.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.is_healthy() && !self.is_full()
    }

    /// Whether `max_in_flight` is set and reached.
    #[must_use]
    pub fn is_full(&self) -> bool {
        let max = self.max_in_flight.load(Relaxed);
        max != 0 && self.in_flight.load(Relaxed) >= max
    }

    /// Set by active health checks. Returns the previous value.
    pub fn set_unhealthy(&self, value: bool) -> bool {
        self.unhealthy.swap(value, Relaxed)
    }

    /// Set by passive outlier detection. Returns the previous value.
    pub fn set_ejected(&self, value: bool) -> bool {
        self.ejected.swap(value, Relaxed)
    }

    /// Set by operators. Returns the previous value.
    pub fn set_draining(&self, value: bool) -> bool {
        self.draining.swap(value, Relaxed)
    }

    /// Whether active checks consider it down.
    #[must_use]
    pub fn is_unhealthy(&self) -> bool {
        self.unhealthy.load(Relaxed)
    }

    /// Whether passive detection ejected it.
    #[must_use]
    pub fn is_ejected(&self) -> bool {
        self.ejected.load(Relaxed)
    }

    /// Whether an operator drains it.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.draining.load(Relaxed)
    }

    /// Limit on concurrent requests/connections; 0 means unlimited.
    pub fn set_max_in_flight(&self, max: u32) {
        self.max_in_flight.store(max, Relaxed);
    }

    /// Requests (L7) or connections (L4) in flight now.
    #[must_use]
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// Count one request or connection as started; the returned guard ends it
    /// (and records its latency) when dropped or [`InFlight::finish`]ed.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        self.stats.requests.fetch_add(1, Relaxed);
        InFlight {
            state: Some(Arc::clone(self)),
            started: Instant::now(),
        }
    }

    /// Current peak-EWMA latency estimate.
    #[must_use]
    pub fn latency_estimate(&self) -> Duration {
        Duration::from_nanos(f64::from_bits(self.ewma_ns.load(Relaxed)) as u64)
    }

    /// The peak-EWMA load: latency estimate × (in-flight + 1), in ns.
    #[must_use]
    pub fn ewma_load(&self) -> f64 {
        let now = self.now_ns();
        let est = self.decayed_ewma(now);
        est * f64::from(self.in_flight() + 1)
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn decayed_ewma(&self, now: u64) -> f64 {
        let prev = f64::from_bits(self.ewma_ns.load(Relaxed));
        let stamp = self.ewma_stamp.load(Relaxed);
        let elapsed = now.saturating_sub(stamp) as f64;
        let w = (-elapsed / EWMA_DECAY_NS).exp();
        prev * w
    }

    /// Feed one observed latency into the peak-EWMA estimate: a value above
    /// the estimate replaces it (the "peak"), a lower one decays towards it.
    pub fn record_latency(&self, rtt: Duration) {
        let now = self.now_ns();
        let rtt = rtt.as_nanos() as f64;
        let prev = f64::from_bits(self.ewma_ns.load(Relaxed));
        let stamp = self.ewma_stamp.load(Relaxed);
        let next = if rtt > prev {
            rtt
        } else {
            let elapsed = now.saturating_sub(stamp) as f64;
            let w = (-elapsed / EWMA_DECAY_NS).exp();
            prev * w + rtt * (1.0 - w)
        };
        // Racing writers may lose an update; the estimate stays sane.
        self.ewma_ns.store(next.to_bits(), Relaxed);
        self.ewma_stamp.store(now, Relaxed);
    }

    /// Record the outcome of a request for the operator counters.
    pub fn record_failure(&self) {
        self.stats.failures.fetch_add(1, Relaxed);
    }
}

/// A request or connection in flight on one endpoint.
///
/// Dropping it (or calling [`finish`](Self::finish)) decrements the in-flight
/// count and records the elapsed time in the latency estimate, so bookkeeping
/// is right even when a response future is dropped half-way.
#[derive(Debug)]
#[must_use = "dropping the guard ends the request at once"]
pub struct InFlight {
    state: Option<Arc<EndpointState>>,
    started: Instant,
}

impl InFlight {
    /// The endpoint this guard counts on.
    #[must_use]
    pub fn state(&self) -> Option<&Arc<EndpointState>> {
        self.state.as_ref()
    }

    /// When the request started.
    #[must_use]
    pub fn started(&self) -> Instant {
        self.started
    }

    /// End the request now, recording its latency.
    pub fn finish(mut self) {
        self.end(true);
    }

    /// End the request without recording a latency sample (e.g. for
    /// long-lived tunnels whose duration says nothing about the server).
    pub fn finish_without_latency(mut self) {
        self.end(false);
    }

    fn end(&mut self, record: bool) {
        if let Some(state) = self.state.take() {
            if record {
                state.record_latency(self.started.elapsed());
            }
            state.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.end(true);
    }
}

/// One member of an endpoint set: a stable id, a user value (typically the
/// server's `SocketAddr`, or an inner service), weight, backup flag and the
/// shared [`EndpointState`].
#[derive(Debug)]
pub struct Endpoint<T> {
    id: EndpointId,
    value: T,
    weight: u32,
    backup: bool,
    state: Arc<EndpointState>,
}

impl<T: Clone> Clone for Endpoint<T> {
    fn clone(&self) -> Self {
        Self {
            id: Arc::clone(&self.id),
            value: self.value.clone(),
            weight: self.weight,
            backup: self.backup,
            state: Arc::clone(&self.state),
        }
    }
}

impl<T> Endpoint<T> {
    /// A primary endpoint of weight 1 with fresh (healthy) state.
    pub fn new(id: impl Into<EndpointId>, value: T) -> Self {
        Self {
            id: id.into(),
            value,
            weight: 1,
            backup: false,
            state: Arc::new(EndpointState::new()),
        }
    }

    /// Set the weight (0 is treated as 1).
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }

    /// Mark as a backup: used only when no primary is available.
    #[must_use]
    pub fn with_backup(mut self, backup: bool) -> Self {
        self.backup = backup;
        self
    }

    /// Use an existing shared state (e.g. to keep it across a reload).
    #[must_use]
    pub fn with_state(mut self, state: Arc<EndpointState>) -> Self {
        self.state = state;
        self
    }

    /// The stable id.
    #[must_use]
    pub fn id(&self) -> &EndpointId {
        &self.id
    }

    /// The user value.
    #[must_use]
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The weight (at least 1).
    #[must_use]
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Whether this is a backup endpoint.
    #[must_use]
    pub fn is_backup(&self) -> bool {
        self.backup
    }

    /// The shared state.
    #[must_use]
    pub fn state(&self) -> &Arc<EndpointState> {
        &self.state
    }
}
