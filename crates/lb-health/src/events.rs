//! Health state changes as structured events: [`HealthEvent`] and the
//! [`EventSink`] every checker, detector and admin helper reports to.
//!
//! Each event is logged as one `tracing` event at INFO on the `lb_health`
//! target with the fields `upstream`, `server`, `from`, `to` and `reason`, and
//! is then handed to every subscriber the sink was built with.

use std::fmt;
use std::sync::Arc;

use lb_balance::{EndpointId, EndpointState, Health};

/// Why a server changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Active checks failed `unhealthy_threshold` times in a row.
    ChecksFailed,
    /// Active checks passed `healthy_threshold` times in a row.
    ChecksPassed,
    /// Passive detection saw `consecutive_failures` failures in a row.
    ConsecutiveFailures,
    /// Passive detection saw more than `failure_rate` of the requests fail
    /// over `failure_window`.
    FailureRate,
    /// The ejection time is over.
    EjectionExpired,
    /// An operator started draining the server.
    Drain,
    /// An operator enabled the server again.
    Enable,
    /// The active checker stopped and cleared its verdicts.
    ChecksStopped,
}

impl Reason {
    /// The snake-case name used in logs and events.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::ChecksFailed => "checks_failed",
            Reason::ChecksPassed => "checks_passed",
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::FailureRate => "failure_rate",
            Reason::EjectionExpired => "ejection_expired",
            Reason::Drain => "drain",
            Reason::Enable => "enable",
            Reason::ChecksStopped => "checks_stopped",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of a server's state.
///
/// `from` and `to` are the server's effective state
/// ([`EndpointState::health`]) just before and just after the change. When
/// several conditions overlap they can be equal (a draining server failing
/// its checks stays `draining`); `reason` says what changed underneath.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthEvent {
    /// The upstream's name.
    pub upstream: Arc<str>,
    /// The server's endpoint id (`"host:port"`).
    pub server: EndpointId,
    /// The state before.
    pub from: Health,
    /// The state after.
    pub to: Health,
    /// What caused the change.
    pub reason: Reason,
}

impl HealthEvent {
    /// A new event.
    #[must_use]
    pub fn new(
        upstream: Arc<str>,
        server: EndpointId,
        from: Health,
        to: Health,
        reason: Reason,
    ) -> Self {
        Self {
            upstream,
            server,
            from,
            to,
            reason,
        }
    }
}

/// A callback that receives every [`HealthEvent`].
pub type Subscriber = Arc<dyn Fn(&HealthEvent) + Send + Sync>;

/// Where health events go: a `tracing` event, then every subscriber.
///
/// Cheap to clone (one `Arc`). The default sink only logs.
#[derive(Clone, Default)]
pub struct EventSink {
    subscribers: Arc<[Subscriber]>,
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink")
            .field("subscribers", &self.subscribers.len())
            .finish()
    }
}

impl EventSink {
    /// A sink that only logs.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a subscriber called (synchronously, on the emitting task) with
    /// every event. Keep it short: it may run on a request's task when
    /// passive detection ejects a server.
    #[must_use]
    pub fn with_subscriber(
        self,
        subscriber: impl Fn(&HealthEvent) + Send + Sync + 'static,
    ) -> Self {
        let mut subs: Vec<Subscriber> = self.subscribers.iter().cloned().collect();
        subs.push(Arc::new(subscriber));
        Self {
            subscribers: subs.into(),
        }
    }

    /// Add a subscriber that forwards every event to a tokio broadcast
    /// channel (events are dropped when nobody listens).
    #[must_use]
    pub fn with_broadcast(self, tx: tokio::sync::broadcast::Sender<HealthEvent>) -> Self {
        self.with_subscriber(move |event| {
            // No receiver is not an error: nobody is interested right now.
            let _ = tx.send(event.clone());
        })
    }

    /// Log `event` and hand it to every subscriber.
    pub fn emit(&self, event: &HealthEvent) {
        tracing::info!(
            target: "lb_health",
            upstream = %event.upstream,
            server = %event.server,
            from = %event.from,
            to = %event.to,
            reason = %event.reason,
            "server state changed"
        );
        for subscriber in self.subscribers.iter() {
            subscriber(event);
        }
    }

    /// Apply `change` to `state` and emit an event if `change` reports that
    /// it flipped a flag (it returns whether it did).
    pub(crate) fn transition(
        &self,
        upstream: &Arc<str>,
        server: &EndpointId,
        state: &EndpointState,
        reason: Reason,
        change: impl FnOnce(&EndpointState) -> bool,
    ) -> bool {
        let from = state.health();
        if !change(state) {
            return false;
        }
        let to = state.health();
        self.emit(&HealthEvent::new(
            Arc::clone(upstream),
            Arc::clone(server),
            from,
            to,
            reason,
        ));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn transition_emits_only_when_the_flag_flips() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = Arc::clone(&seen);
            EventSink::new().with_subscriber(move |e| seen.lock().unwrap().push(e.clone()))
        };
        let state = EndpointState::new();
        let up: Arc<str> = "api".into();
        let id: EndpointId = "127.0.0.1:1".into();
        assert!(
            sink.transition(&up, &id, &state, Reason::ChecksFailed, |s| !s
                .set_unhealthy(true))
        );
        assert!(
            !sink.transition(&up, &id, &state, Reason::ChecksFailed, |s| !s
                .set_unhealthy(true))
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].from, Health::Healthy);
        assert_eq!(seen[0].to, Health::Unhealthy);
        assert_eq!(seen[0].reason, Reason::ChecksFailed);
    }
}
