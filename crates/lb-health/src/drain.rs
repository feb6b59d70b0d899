//! Operator actions on one server: [`drain`] and [`enable`].
//!
//! Draining only sets the endpoint's flag: every algorithm of `lb-balance`
//! skips draining servers for new requests and connections, while those in
//! flight hold their own `InFlight` guards and finish normally. Backups need
//! no help from here either: `Balancer::pick` uses them only when no primary
//! is available.

use std::sync::Arc;

use lb_balance::Balancer;

use crate::events::{EventSink, Reason};

/// Stop sending new requests and connections to the server `id` of
/// `upstream`; in-flight ones finish. Returns `false` when `balancer` has no
/// such server (the admin API answers 404). Draining a server that already
/// drains changes nothing and emits no event.
pub fn drain<T: Clone>(
    upstream: &Arc<str>,
    balancer: &Balancer<T>,
    id: &str,
    events: &EventSink,
) -> bool {
    set(upstream, balancer, id, events, true)
}

/// Undo [`drain`]: the server `id` takes traffic again (if its health
/// allows). Returns `false` when `balancer` has no such server.
pub fn enable<T: Clone>(
    upstream: &Arc<str>,
    balancer: &Balancer<T>,
    id: &str,
    events: &EventSink,
) -> bool {
    set(upstream, balancer, id, events, false)
}

fn set<T: Clone>(
    upstream: &Arc<str>,
    balancer: &Balancer<T>,
    id: &str,
    events: &EventSink,
    draining: bool,
) -> bool {
    let snapshot = balancer.snapshot();
    let Some(endpoint) = snapshot.get(id) else {
        return false;
    };
    let reason = if draining {
        Reason::Drain
    } else {
        Reason::Enable
    };
    events.transition(upstream, endpoint.id(), endpoint.state(), reason, |s| {
        s.set_draining(draining) != draining
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_balance::{Algorithm, Endpoint, Health, PickRequest};
    use std::sync::Mutex;

    #[test]
    fn drain_and_enable_change_picks_and_emit_events() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let events = {
            let seen = Arc::clone(&seen);
            EventSink::new().with_subscriber(move |e| seen.lock().unwrap().push(e.clone()))
        };
        let up: Arc<str> = "api".into();
        let b = Balancer::new(
            Algorithm::RoundRobin,
            vec![Endpoint::new("a:1", 1u8), Endpoint::new("b:1", 2u8)],
        );
        assert!(drain(&up, &b, "a:1", &events));
        assert!(drain(&up, &b, "a:1", &events), "idempotent");
        assert!(!drain(&up, &b, "zzz:1", &events));
        for _ in 0..4 {
            assert_eq!(*b.pick(&PickRequest::default()).unwrap().value(), 2);
        }
        assert!(enable(&up, &b, "a:1", &events));
        let picks: Vec<u8> = (0..4)
            .map(|_| *b.pick(&PickRequest::default()).unwrap().value())
            .collect();
        assert!(picks.contains(&1));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (seen[0].from, seen[0].to),
            (Health::Healthy, Health::Draining)
        );
        assert_eq!(
            (seen[1].from, seen[1].to),
            (Health::Draining, Health::Healthy)
        );
    }
}
