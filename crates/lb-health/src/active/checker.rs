//! [`Checker`]: runs a probe against every server of a balancer, round after
//! round, and applies the rise/fall thresholds.

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use lb_balance::{Balancer, Endpoint, EndpointId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tower_service::Service;
use tracing::Instrument;

use super::{ActiveConfig, Check};
use crate::events::{EventSink, Reason};
use crate::BoxError;

/// Shortest interval between rounds; shorter settings are raised to it.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The result of one probe.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckOutcome {
    /// The probe passed.
    Pass,
    /// The probe failed with this error.
    Fail(BoxError),
    /// The probe did not finish within the timeout (a failure).
    Timeout,
}

impl CheckOutcome {
    /// Whether this is a pass.
    #[must_use]
    pub fn is_pass(&self) -> bool {
        matches!(self, CheckOutcome::Pass)
    }
}

/// What one round of checks saw, server by server, in the balancer's order.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RoundReport {
    /// Each checked server's id and probe outcome.
    pub results: Vec<(EndpointId, CheckOutcome)>,
}

impl RoundReport {
    /// The outcome for the server with this id, if it was checked.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&CheckOutcome> {
        self.results
            .iter()
            .find(|(i, _)| &**i == id)
            .map(|(_, o)| o)
    }
}

/// Active health checks of one upstream.
///
/// Each [`run_round`](Self::run_round) probes every server of the balancer's
/// current snapshot concurrently, each under the timeout, and flips a
/// server's [`EndpointState::set_unhealthy`] flag only after
/// `unhealthy_threshold` failures (or `healthy_threshold` passes) in a row;
/// a result that agrees with the current state resets the count (pingora's
/// `observe_health` rule). Counts are kept per endpoint state, so a server
/// that stays across a membership change keeps them.
///
/// [`EndpointState::set_unhealthy`]: lb_balance::EndpointState::set_unhealthy
pub struct Checker<S = Check> {
    upstream: Arc<str>,
    balancer: Arc<Balancer<SocketAddr>>,
    check: S,
    interval: Duration,
    timeout: Duration,
    jitter: f64,
    unhealthy_threshold: u32,
    healthy_threshold: u32,
    events: EventSink,
    /// Consecutive results opposite to the current state, by endpoint uid.
    counters: HashMap<u64, u32>,
    rng: SmallRng,
}

impl<S> std::fmt::Debug for Checker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("upstream", &self.upstream)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("unhealthy_threshold", &self.unhealthy_threshold)
            .field("healthy_threshold", &self.healthy_threshold)
            .finish_non_exhaustive()
    }
}

impl Checker<Check> {
    /// A checker using the built-in probe of `cfg.kind`.
    #[must_use]
    pub fn new(
        upstream: Arc<str>,
        balancer: Arc<Balancer<SocketAddr>>,
        cfg: &ActiveConfig,
        events: EventSink,
    ) -> Self {
        Self::with_check(upstream, balancer, cfg, Check::new(&cfg.kind), events)
    }
}

impl<S> Checker<S>
where
    S: Service<SocketAddr, Response = ()> + Clone,
    S::Error: Into<BoxError>,
{
    /// A checker using a custom probe (`cfg.kind` is ignored). Any tower
    /// service of `SocketAddr` will do, e.g. a built-in probe with layers.
    #[must_use]
    pub fn with_check(
        upstream: Arc<str>,
        balancer: Arc<Balancer<SocketAddr>>,
        cfg: &ActiveConfig,
        check: S,
        events: EventSink,
    ) -> Self {
        Self {
            upstream,
            balancer,
            check,
            interval: cfg.interval.max(MIN_INTERVAL),
            timeout: cfg.timeout,
            jitter: if cfg.jitter.is_finite() {
                cfg.jitter.clamp(0.0, 1.0)
            } else {
                0.0
            },
            unhealthy_threshold: cfg.unhealthy_threshold.max(1),
            healthy_threshold: cfg.healthy_threshold.max(1),
            events,
            counters: HashMap::new(),
            rng: SmallRng::from_os_rng(),
        }
    }

    /// Draw the jitter from a seeded generator (for reproducible schedules).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = SmallRng::seed_from_u64(seed);
        self
    }

    /// Probe every server once and apply the thresholds. The spawned task
    /// calls this every interval; tests call it directly to drive rounds.
    pub async fn run_round(&mut self) -> RoundReport {
        let snapshot = self.balancer.snapshot();
        let timeout = self.timeout;
        let probes = snapshot.endpoints().iter().map(|endpoint| {
            let check = self.check.clone();
            let addr = *endpoint.value();
            probe(check, addr, timeout)
        });
        let outcomes = join_all(probes).await;

        let mut report = RoundReport {
            results: Vec::with_capacity(outcomes.len()),
        };
        for (endpoint, outcome) in snapshot.endpoints().iter().zip(outcomes) {
            self.observe(endpoint, &outcome);
            report.results.push((Arc::clone(endpoint.id()), outcome));
        }
        let live: HashSet<u64> = snapshot
            .endpoints()
            .iter()
            .map(|e| e.state().uid())
            .collect();
        self.counters.retain(|uid, _| live.contains(uid));
        report
    }

    fn observe(&mut self, endpoint: &Endpoint<SocketAddr>, outcome: &CheckOutcome) {
        let state = endpoint.state();
        let passed = outcome.is_pass();
        if passed {
            state
                .stats
                .checks_ok
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            state
                .stats
                .checks_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match outcome {
                CheckOutcome::Fail(error) => tracing::debug!(
                    upstream = %self.upstream, server = %endpoint.id(), %error,
                    "health check failed"
                ),
                _ => tracing::debug!(
                    upstream = %self.upstream, server = %endpoint.id(),
                    "health check timed out"
                ),
            }
        }
        let healthy = !state.is_unhealthy();
        let count = self.counters.entry(state.uid()).or_insert(0);
        if passed == healthy {
            *count = 0;
            return;
        }
        *count += 1;
        let threshold = if healthy {
            self.unhealthy_threshold
        } else {
            self.healthy_threshold
        };
        if *count < threshold {
            return;
        }
        *count = 0;
        let reason = if passed {
            Reason::ChecksPassed
        } else {
            Reason::ChecksFailed
        };
        self.events
            .transition(&self.upstream, endpoint.id(), state, reason, |s| {
                s.set_unhealthy(!passed) == passed
            });
    }

    /// `interval × factor(u)` for a uniform `u` in `[0, 1)`, saturating.
    fn draw(&mut self, factor: impl FnOnce(f64) -> f64) -> Duration {
        let u: f64 = self.rng.random();
        let secs = self.interval.as_secs_f64() * factor(u);
        Duration::try_from_secs_f64(secs).unwrap_or(self.interval)
    }

    /// Run rounds forever in a tokio task: the first after a random fraction
    /// (`jitter`) of the interval, then every `interval × (1 ± jitter)`.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    #[must_use = "dropping the handle stops the checks"]
    pub fn spawn(mut self) -> CheckerHandle
    where
        S: Send + 'static,
        S::Future: Send,
    {
        let span = tracing::info_span!("health_checker", upstream = %self.upstream);
        let task = tokio::spawn(
            async move {
                let jitter = self.jitter;
                let first = self.draw(|u| jitter * u);
                tokio::time::sleep(first).await;
                loop {
                    self.run_round().await;
                    let next = self.draw(|u| 1.0 - jitter + 2.0 * jitter * u);
                    tokio::time::sleep(next).await;
                }
            }
            .instrument(span),
        );
        CheckerHandle { task }
    }
}

async fn probe<S>(mut check: S, addr: SocketAddr, timeout: Duration) -> CheckOutcome
where
    S: Service<SocketAddr, Response = ()>,
    S::Error: Into<BoxError>,
{
    let call = async {
        poll_fn(|cx| check.poll_ready(cx)).await?;
        check.call(addr).await
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(())) => CheckOutcome::Pass,
        Ok(Err(error)) => CheckOutcome::Fail(error.into()),
        Err(_elapsed) => CheckOutcome::Timeout,
    }
}

/// The running checker task of [`Checker::spawn`] or
/// [`spawn_active`](super::spawn_active); dropping it stops the task.
#[derive(Debug)]
pub struct CheckerHandle {
    task: JoinHandle<()>,
}

impl CheckerHandle {
    /// Whether the task has stopped (it only stops when aborted or if a
    /// probe panicked).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for CheckerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
