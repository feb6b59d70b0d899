//! Passive outlier detection: eject servers that fail real traffic.
//!
//! An [`OutlierDetector`] watches the outcome of every request (or
//! connection) sent to an upstream's servers. A server that fails
//! `consecutive_failures` times in a row, or (optionally) more than
//! `failure_rate` of its requests over `failure_window`, is ejected for
//! `ejection_time × n` where `n` is how many times it was ejected recently
//! (at most 10); a tokio timer brings it back. Never more than
//! `max_ejected_percent` of the upstream's servers are ejected at once.
//!
//! Feed it directly with [`OutlierDetector::observe`], or wrap an endpoint's
//! service in [`PassiveHealthLayer`], which classifies each result with a
//! [`Classify`] policy.

use std::time::Duration;

mod classify;
mod detector;
mod layer;
mod window;

pub use classify::{classify_error, Classify, DefaultClassify, ErrorsOnly};
pub use detector::OutlierDetector;
pub use layer::{PassiveHealth, PassiveHealthLayer, ResponseFuture};

/// Most times the ejection time is multiplied by for a repeat offender.
pub const MAX_EJECTION_MULTIPLIER: u32 = 10;

/// Settings of passive outlier detection for one upstream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PassiveConfig {
    /// Failures in a row (5xx, connect error, reset, timeout) that eject a
    /// server; 0 turns this rule off. Default: 5.
    pub consecutive_failures: u32,
    /// Eject a server when more than this share (0.0-1.0) of its requests
    /// failed over `failure_window`; `None` turns this rule off.
    /// Default: `None`.
    pub failure_rate: Option<f64>,
    /// The sliding window of the failure-rate rule (kept as 10 buckets of a
    /// tenth each). Default: 10 s.
    pub failure_window: Duration,
    /// Fewest requests in the window before the failure-rate rule applies.
    /// Default: 20.
    pub min_requests: u32,
    /// Base ejection time, multiplied by the number of times the server was
    /// ejected (up to [`MAX_EJECTION_MULTIPLIER`]). The count is forgotten
    /// after a clean spell of `ejection_time ×` [`MAX_EJECTION_MULTIPLIER`]
    /// back in the pool. Default: 30 s.
    pub ejection_time: Duration,
    /// Never eject more than this percentage (0-100) of the upstream's
    /// servers at once, counting every server of the set; an ejection that
    /// would exceed it does not happen and the server's failure streak
    /// starts over. With one server and 50 % it is never ejected (active
    /// checks still take it out). Default: 50.
    pub max_ejected_percent: u32,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: None,
            failure_window: Duration::from_secs(10),
            min_requests: 20,
            ejection_time: Duration::from_secs(30),
            max_ejected_percent: 50,
        }
    }
}

/// Why a request (or connection) to a server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The server answered with a 5xx status.
    Status5xx,
    /// The connection could not be established (refused, unreachable,
    /// connect timeout, TLS handshake failure).
    ConnectError,
    /// The connection was reset or closed before the response was complete.
    Reset,
    /// The server took too long.
    Timeout,
    /// Any other error from the server's service.
    Other,
}

impl FailureKind {
    /// The snake-case name used in logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::Status5xx => "5xx",
            FailureKind::ConnectError => "connect_error",
            FailureKind::Reset => "reset",
            FailureKind::Timeout => "timeout",
            FailureKind::Other => "other",
        }
    }
}

/// The outcome of one request or connection, as passive detection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The server did its job.
    Success,
    /// The server failed.
    Failure(FailureKind),
}

impl Outcome {
    /// Whether this is a failure.
    #[must_use]
    pub const fn is_failure(self) -> bool {
        matches!(self, Outcome::Failure(_))
    }
}
