//! [`OutlierDetector`]: turns request outcomes into ejections.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use lb_balance::{Balancer, Endpoint, EndpointId, EndpointState};
use tokio::time::Instant;

use super::window::Tracker;
use super::{Outcome, PassiveConfig, MAX_EJECTION_MULTIPLIER};
use crate::events::{EventSink, Reason};

/// Passive outlier detection for one upstream.
///
/// Cheap to clone (one `Arc`); share one per upstream between all workers.
/// [`observe`](Self::observe) is lock-free: a success is one relaxed load (and
/// a store if a failure streak ends), a failure one `fetch_add`; with
/// `failure_rate` set, each outcome also bumps two atomics of a window found
/// through an `arc-swap` map. Only the rare ejection itself takes a lock, so
/// that two workers cannot both take the last slot under
/// `max_ejected_percent`.
///
/// Ejections need a tokio runtime (a timer brings the server back); outside
/// one, outcomes are counted but nobody is ejected.
pub struct OutlierDetector<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    upstream: Arc<str>,
    balancer: Arc<Balancer<T>>,
    cfg: PassiveConfig,
    events: EventSink,
    trackers: ArcSwap<HashMap<u64, Arc<Tracker>>>,
    eject_lock: Mutex<()>,
    epoch: Instant,
}

impl<T> Clone for OutlierDetector<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for OutlierDetector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutlierDetector")
            .field("upstream", &self.inner.upstream)
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

impl<T> OutlierDetector<T>
where
    T: Clone + Send + Sync + 'static,
{
    /// A detector for the servers of `balancer`, reporting as `upstream`.
    #[must_use]
    pub fn new(
        upstream: Arc<str>,
        balancer: Arc<Balancer<T>>,
        cfg: PassiveConfig,
        events: EventSink,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                upstream,
                balancer,
                cfg,
                events,
                trackers: ArcSwap::default(),
                eject_lock: Mutex::new(()),
                epoch: Instant::now(),
            }),
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &PassiveConfig {
        &self.inner.cfg
    }

    /// The upstream's name.
    #[must_use]
    pub fn upstream(&self) -> &Arc<str> {
        &self.inner.upstream
    }

    /// Record the outcome of one request (or connection) to `endpoint`.
    ///
    /// Failures also bump the endpoint's `stats.failures`. Outcomes of a
    /// server that is already ejected are counted but do not extend the
    /// ejection.
    pub fn observe(&self, endpoint: &Endpoint<T>, outcome: Outcome) {
        self.record(endpoint.state(), Some(endpoint.id()), outcome);
    }

    /// As [`observe`](Self::observe), for a caller that only holds the
    /// endpoint's state (e.g. from an `InFlight` guard); the id is looked up
    /// in the balancer if an ejection happens.
    pub fn observe_state(&self, state: &Arc<EndpointState>, outcome: Outcome) {
        self.record(state, None, outcome);
    }

    fn record(&self, state: &Arc<EndpointState>, id: Option<&EndpointId>, outcome: Outcome) {
        let cfg = &self.inner.cfg;
        let failed = outcome.is_failure();
        if failed {
            state.record_failure();
        }
        if state.is_ejected() {
            return;
        }
        let mut reason = None;
        let streak = &state.stats.consecutive_failures;
        if failed {
            let n = streak.fetch_add(1, Relaxed).saturating_add(1);
            if cfg.consecutive_failures > 0 && n >= cfg.consecutive_failures {
                reason = Some(Reason::ConsecutiveFailures);
            }
        } else if streak.load(Relaxed) != 0 {
            streak.store(0, Relaxed);
        }
        if let Some(rate) = cfg.failure_rate {
            let now = self.now_ns();
            let over = self.with_tracker(state, |t| {
                t.window.record(now, failed);
                if !failed {
                    return false;
                }
                let (total, bad) = t.window.counts(now);
                total >= u64::from(cfg.min_requests) && (bad as f64) > rate * (total as f64)
            });
            if over && reason.is_none() {
                reason = Some(Reason::FailureRate);
            }
        }
        if let Some(reason) = reason {
            self.eject(state, id, reason);
        }
    }

    fn now_ns(&self) -> u64 {
        let d = Instant::now().saturating_duration_since(self.inner.epoch);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Run `f` on the endpoint's tracker, creating it on first use.
    fn with_tracker<R>(&self, state: &EndpointState, f: impl FnOnce(&Tracker) -> R) -> R {
        let uid = state.uid();
        if let Some(t) = self.inner.trackers.load().get(&uid) {
            return f(t);
        }
        // First sight of this endpoint: publish a new map, dropping the
        // trackers of endpoints that left the set.
        let live: HashSet<u64> = self
            .inner
            .balancer
            .snapshot()
            .endpoints()
            .iter()
            .map(|e| e.state().uid())
            .collect();
        let bucket_ns =
            u64::try_from(self.inner.cfg.failure_window.as_nanos() / 10).unwrap_or(u64::MAX);
        let fresh = Arc::new(Tracker::new(bucket_ns));
        let map = self.inner.trackers.rcu(|map| {
            let mut next: HashMap<u64, Arc<Tracker>> = map
                .iter()
                .filter(|(k, _)| live.contains(k))
                .map(|(k, v)| (*k, Arc::clone(v)))
                .collect();
            let kept = map.get(&uid).map_or_else(|| Arc::clone(&fresh), Arc::clone);
            next.insert(uid, kept);
            next
        });
        // `rcu` returns the map it replaced; read back what we stored.
        drop(map);
        let current = self.inner.trackers.load();
        match current.get(&uid) {
            Some(t) => f(t),
            None => f(&fresh),
        }
    }

    fn eject(&self, state: &Arc<EndpointState>, id: Option<&EndpointId>, reason: Reason) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(upstream = %self.inner.upstream, "outside a tokio runtime: not ejecting");
            return;
        };
        let cfg = &self.inner.cfg;
        let snapshot = self.inner.balancer.snapshot();
        let id = match id {
            Some(id) => Arc::clone(id),
            None => match snapshot
                .endpoints()
                .iter()
                .find(|e| e.state().uid() == state.uid())
            {
                Some(e) => Arc::clone(e.id()),
                // No longer in the set: nothing to eject it from.
                None => return,
            },
        };
        let guard = self
            .inner
            .eject_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.stats.consecutive_failures.store(0, Relaxed);
        if state.is_ejected() {
            return;
        }
        let total = snapshot.endpoints().len() as u64;
        let ejected = snapshot
            .endpoints()
            .iter()
            .filter(|e| e.state().is_ejected())
            .count() as u64;
        if (ejected + 1) * 100 > u64::from(cfg.max_ejected_percent.min(100)) * total {
            tracing::debug!(
                upstream = %self.inner.upstream, server = %id, %reason, ejected, total,
                "not ejecting: max_ejected_percent reached"
            );
            return;
        }
        let now = self.now_ns();
        let clean_spell = cfg.ejection_time.saturating_mul(MAX_EJECTION_MULTIPLIER);
        let times = self.with_tracker(state, |t| {
            let back = t.returned_at.load(Relaxed);
            let clean = back != 0 && Duration::from_nanos(now.saturating_sub(back)) >= clean_spell;
            let times = if clean { 0 } else { t.times.load(Relaxed) };
            let times = times.saturating_add(1);
            t.times.store(times, Relaxed);
            t.window.clear();
            times
        });
        let duration = cfg
            .ejection_time
            .saturating_mul(times.min(MAX_EJECTION_MULTIPLIER));
        state.stats.ejections.fetch_add(1, Relaxed);
        let inner = &self.inner;
        inner
            .events
            .transition(&inner.upstream, &id, state, reason, |s| {
                !s.set_ejected(true)
            });
        drop(guard);
        tracing::debug!(upstream = %inner.upstream, server = %id, ?duration, times, "ejected");

        // The deadline is fixed now, not when the task first runs.
        let now = Instant::now();
        let until = now
            .checked_add(duration)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        let detector = self.clone();
        let state = Arc::clone(state);
        runtime.spawn(async move {
            tokio::time::sleep_until(until).await;
            detector.return_to_pool(&state, &id);
        });
    }

    fn return_to_pool(&self, state: &EndpointState, id: &EndpointId) {
        let now = self.now_ns().max(1);
        self.with_tracker(state, |t| t.returned_at.store(now, Relaxed));
        state.stats.consecutive_failures.store(0, Relaxed);
        let inner = &self.inner;
        inner
            .events
            .transition(&inner.upstream, id, state, Reason::EjectionExpired, |s| {
                s.set_ejected(false)
            });
    }
}
