//! Feeding connect outcomes to passive outlier detection.
//!
//! L4 has no status codes: a connect that fails or times out is a
//! [`FailureKind::ConnectError`], one that succeeds a success. A server that
//! resets an established connection is not counted (the client may as well
//! have caused it).

use std::net::SocketAddr;

use lb_balance::Endpoint;
use lb_health::passive::{FailureKind, Outcome};
use lb_health::OutlierDetector;

/// Record a successful connect.
pub(crate) fn success(
    passive: Option<&OutlierDetector<SocketAddr>>,
    endpoint: &Endpoint<SocketAddr>,
) {
    if let Some(detector) = passive {
        detector.observe(endpoint, Outcome::Success);
    }
}

/// Record a failed connect on the endpoint's counters and in passive
/// detection (which bumps the same counter itself).
pub(crate) fn failure(
    passive: Option<&OutlierDetector<SocketAddr>>,
    endpoint: &Endpoint<SocketAddr>,
) {
    match passive {
        Some(detector) => detector.observe(endpoint, Outcome::Failure(FailureKind::ConnectError)),
        None => endpoint.state().record_failure(),
    }
}
