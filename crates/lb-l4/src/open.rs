//! Counting a connection or flow on its endpoint for as long as it lives.

use lb_balance::InFlight;

/// Ends the endpoint's in-flight count without a latency sample when dropped:
/// a tunnel's or flow's lifetime says nothing about the server's speed (the
/// TCP connect time is recorded as the sample instead).
#[derive(Debug)]
pub(crate) struct OpenConnection(Option<InFlight>);

impl OpenConnection {
    pub(crate) fn new(guard: InFlight) -> Self {
        Self(Some(guard))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(guard) = self.0.take() {
            guard.finish_without_latency();
        }
    }
}
