//! The shared, lock-free state of one endpoint: health flags, load and
//! counters.
//!
//! [`EndpointState`] is the seam between the crates: `lb-health` writes the
//! health flags, the proxies bump the in-flight counter through
//! [`InFlight`](crate::InFlight) guards, and every algorithm reads it. It lives
//! behind an `Arc` and is kept across membership changes for endpoints whose
//! id stays (see [`Balancer::update`](crate::Balancer::update)).

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::in_flight::InFlight;

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

/// Flag bits of [`EndpointState::flags`]: one load answers "is it healthy?".
const UNHEALTHY: u8 = 1;
const EJECTED: u8 = 2;
const DRAINING: u8 = 4;

/// The shared state of one endpoint: health flags, load and counters.
///
/// Cheap to read from any thread; every field is an atomic.
pub struct EndpointState {
    uid: u64,
    /// `UNHEALTHY | EJECTED | DRAINING` bits.
    flags: AtomicU8,
    pub(crate) in_flight: AtomicU32,
    max_in_flight: AtomicU32,
    /// Peak-EWMA latency estimate in nanoseconds (f64 bits).
    ewma_ns: AtomicU64,
    /// When `ewma_ns` was last updated, in ns since the process-wide
    /// [`epoch`]: stamps of different endpoints compare directly.
    ewma_stamp: AtomicU64,
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
pub(crate) const EWMA_DECAY_NS: f64 = 10_000_000_000.0;

/// The instant all latency stamps count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn ns_since_epoch(now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

impl EndpointState {
    /// A new, healthy endpoint state with no load.
    #[must_use]
    pub fn new() -> Self {
        Self {
            uid: NEXT_UID.fetch_add(1, Relaxed),
            flags: AtomicU8::new(0),
            in_flight: AtomicU32::new(0),
            max_in_flight: AtomicU32::new(0),
            ewma_ns: AtomicU64::new(DEFAULT_RTT_NS.to_bits()),
            ewma_stamp: AtomicU64::new(ns_since_epoch(Instant::now())),
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
        let flags = self.flags.load(Relaxed);
        if flags & DRAINING != 0 {
            Health::Draining
        } else if flags & EJECTED != 0 {
            Health::Ejected
        } else if flags & UNHEALTHY != 0 {
            Health::Unhealthy
        } else {
            Health::Healthy
        }
    }

    /// Healthy, not ejected, not draining (connection limit not considered).
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.flags.load(Relaxed) == 0
    }

    /// Whether a new request or connection may go here now: healthy and
    /// below its connection limit.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.available_load().is_some()
    }

    /// The in-flight count if the endpoint is available, `None` otherwise:
    /// the one read every algorithm makes per candidate.
    #[inline]
    pub(crate) fn available_load(&self) -> Option<u32> {
        if self.flags.load(Relaxed) != 0 {
            return None;
        }
        let in_flight = self.in_flight.load(Relaxed);
        let max = self.max_in_flight.load(Relaxed);
        (max == 0 || in_flight < max).then_some(in_flight)
    }

    /// Whether `max_in_flight` is set and reached.
    #[must_use]
    pub fn is_full(&self) -> bool {
        let max = self.max_in_flight.load(Relaxed);
        max != 0 && self.in_flight.load(Relaxed) >= max
    }

    fn set_flag(&self, bit: u8, value: bool) -> bool {
        let prev = if value {
            self.flags.fetch_or(bit, Relaxed)
        } else {
            self.flags.fetch_and(!bit, Relaxed)
        };
        prev & bit != 0
    }

    /// Set by active health checks. Returns the previous value.
    pub fn set_unhealthy(&self, value: bool) -> bool {
        self.set_flag(UNHEALTHY, value)
    }

    /// Set by passive outlier detection. Returns the previous value.
    pub fn set_ejected(&self, value: bool) -> bool {
        self.set_flag(EJECTED, value)
    }

    /// Set by operators. Returns the previous value.
    pub fn set_draining(&self, value: bool) -> bool {
        self.set_flag(DRAINING, value)
    }

    /// Whether active checks consider it down.
    #[must_use]
    pub fn is_unhealthy(&self) -> bool {
        self.flags.load(Relaxed) & UNHEALTHY != 0
    }

    /// Whether passive detection ejected it.
    #[must_use]
    pub fn is_ejected(&self) -> bool {
        self.flags.load(Relaxed) & EJECTED != 0
    }

    /// Whether an operator drains it.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.flags.load(Relaxed) & DRAINING != 0
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
        InFlight::new(Arc::clone(self))
    }

    /// Current peak-EWMA latency estimate.
    #[must_use]
    pub fn latency_estimate(&self) -> Duration {
        Duration::from_nanos(f64::from_bits(self.ewma_ns.load(Relaxed)) as u64)
    }

    /// The peak-EWMA load: latency estimate × (in-flight + 1), in ns.
    #[must_use]
    pub fn ewma_load(&self) -> f64 {
        self.ewma_load_at(Instant::now())
    }

    /// [`ewma_load`](Self::ewma_load) as of `now`: lets a caller comparing
    /// several endpoints read the clock once.
    #[must_use]
    pub fn ewma_load_at(&self, now: Instant) -> f64 {
        let est = self.decayed_ewma(ns_since_epoch(now));
        est * f64::from(self.in_flight().saturating_add(1))
    }

    /// The undecayed load `estimate × (in-flight + 1)` and the stamp (ns
    /// since a process-wide epoch) it decays from. Two endpoints compare
    /// without reading the clock: the decay factor `exp(-(now - stamp)/τ)`
    /// of each only differs by `exp((stamp_a - stamp_b)/τ)`.
    #[inline]
    pub(crate) fn ewma_raw_load(&self) -> (f64, u64) {
        let est = f64::from_bits(self.ewma_ns.load(Relaxed));
        let stamp = self.ewma_stamp.load(Relaxed);
        (est * f64::from(self.in_flight().saturating_add(1)), stamp)
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
        let now = ns_since_epoch(Instant::now());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_return_previous_and_most_restrictive_health_wins() {
        let s = EndpointState::new();
        assert!(!s.set_unhealthy(true));
        assert!(s.set_unhealthy(true));
        assert_eq!(s.health(), Health::Unhealthy);
        assert!(!s.set_ejected(true));
        assert_eq!(s.health(), Health::Ejected);
        assert!(!s.set_draining(true));
        assert_eq!(s.health(), Health::Draining);
        assert!(s.set_ejected(false));
        assert!(s.is_unhealthy() && s.is_draining() && !s.is_ejected());
        s.set_draining(false);
        s.set_unhealthy(false);
        assert!(s.is_healthy());
    }

    #[test]
    fn connection_limit_makes_it_unavailable() {
        let s = Arc::new(EndpointState::new());
        s.set_max_in_flight(1);
        let g = s.start();
        assert!(s.is_full() && !s.is_available() && s.is_healthy());
        drop(g);
        assert!(s.is_available());
    }
}
