//! [`InFlight`]: the drop guard that counts one request or connection on an
//! endpoint.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crate::state::EndpointState;

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
    /// Made by [`EndpointState::start`], which has counted the request.
    pub(crate) fn new(state: Arc<EndpointState>) -> Self {
        Self {
            state: Some(state),
            started: Instant::now(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_and_drop_each_end_the_request_once() {
        let s = Arc::new(EndpointState::new());
        let a = s.start();
        let b = s.start();
        let c = s.start();
        assert_eq!(s.in_flight(), 3);
        a.finish();
        b.finish_without_latency();
        assert_eq!(s.in_flight(), 1);
        drop(c);
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.stats.requests.load(Relaxed), 3);
    }
}
