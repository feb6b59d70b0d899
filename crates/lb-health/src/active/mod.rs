//! Active health checks: background probes that take servers out of the pool
//! and bring them back.
//!
//! Each probe kind is a tower `Service<SocketAddr, Response = ()>`
//! ([`TcpCheck`], [`HttpCheck`], [`GrpcCheck`], or [`Check`] for "one of
//! them, chosen by [`CheckKind`]"), so users can wrap it in their own layers.
//! A [`Checker`] runs one probe per server of a [`Balancer`] every interval,
//! under a timeout, and applies the rise/fall thresholds; [`spawn_active`]
//! runs it as a tokio task.
//!
//! [`Balancer`]: lb_balance::Balancer

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use lb_balance::Balancer;

use crate::events::{EventSink, Reason};

mod check;
mod checker;
mod error;
mod grpc;
mod http;
mod tcp;

pub use check::{Check, CheckFuture};
pub use checker::{CheckOutcome, Checker, CheckerHandle, RoundReport};
pub use error::CheckError;
pub use grpc::GrpcCheck;
pub use http::HttpCheck;
pub use tcp::TcpCheck;

/// What an active check does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckKind {
    /// `GET path` over a fresh HTTP/1.1 connection; passes when the status
    /// is in `expect`.
    Http {
        /// Request path (and query), e.g. `"/health"`.
        path: String,
        /// `Host` header; `None` sends the server's `ip:port`.
        host: Option<String>,
        /// Status codes that count as a pass, e.g. `200..=399`.
        expect: RangeInclusive<u16>,
    },
    /// A TCP connect; passes when the connection is established.
    Tcp,
    /// `grpc.health.v1.Health/Check` over h2c; passes when the answer is
    /// `SERVING` with `grpc-status: 0`.
    Grpc {
        /// The service name asked about; `""` asks about the whole server.
        service: String,
    },
}

impl CheckKind {
    /// The name used in configuration and logs: `http`, `tcp` or `grpc`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::Grpc { .. } => "grpc",
        }
    }
}

impl Default for CheckKind {
    /// `GET /health`, expecting `200..=399`.
    fn default() -> Self {
        CheckKind::Http {
            path: "/health".to_owned(),
            host: None,
            expect: 200..=399,
        }
    }
}

/// Settings of active health checks for one upstream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActiveConfig {
    /// The probe. Default: [`CheckKind::default`] (`GET /health`, 200-399).
    pub kind: CheckKind,
    /// Time between two rounds of checks (at least 10 ms). Default: 10 s.
    pub interval: Duration,
    /// How long one check may take before it counts as a failure.
    /// Default: 3 s.
    pub timeout: Duration,
    /// Consecutive failures that take a healthy server out (0 is treated
    /// as 1). Default: 3.
    pub unhealthy_threshold: u32,
    /// Consecutive passes that bring an unhealthy server back (0 is treated
    /// as 1). Default: 2.
    pub healthy_threshold: u32,
    /// Random spread of each wait, as a fraction of `interval`: every wait is
    /// drawn uniformly from `interval × (1 ± jitter)`, and the first round
    /// starts after `interval × jitter × U(0, 1)`. Clamped to `0.0..=1.0`.
    /// Default: 0.1.
    pub jitter: f64,
}

impl Default for ActiveConfig {
    fn default() -> Self {
        Self {
            kind: CheckKind::default(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(3),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            jitter: 0.1,
        }
    }
}

impl ActiveConfig {
    /// Defaults with this probe kind.
    #[must_use]
    pub fn new(kind: CheckKind) -> Self {
        Self {
            kind,
            ..Self::default()
        }
    }
}

/// Start active checks of every server of `balancer` in a tokio task.
///
/// The task reads the balancer's current snapshot each round, so servers
/// added or removed later (reload, DNS) are followed. Dropping the returned
/// handle stops it; the verdicts it wrote stay (see [`clear_unhealthy`]).
///
/// # Panics
///
/// When called outside a tokio runtime.
#[must_use = "dropping the handle stops the checks"]
pub fn spawn_active(
    upstream: Arc<str>,
    balancer: Arc<Balancer<SocketAddr>>,
    cfg: ActiveConfig,
    events: EventSink,
) -> CheckerHandle {
    Checker::new(upstream, balancer, &cfg, events).spawn()
}

/// Mark every server of `balancer` as passing active checks again, emitting
/// an event for each that was out. Call it when an upstream's active checks
/// are removed (e.g. by a reload), since a stopped checker leaves its
/// verdicts in place.
pub fn clear_unhealthy<T: Clone>(upstream: &Arc<str>, balancer: &Balancer<T>, events: &EventSink) {
    for endpoint in balancer.snapshot().endpoints() {
        events.transition(
            upstream,
            endpoint.id(),
            endpoint.state(),
            Reason::ChecksStopped,
            |s| s.set_unhealthy(false),
        );
    }
}
