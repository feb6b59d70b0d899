//! Active health checks (HTTP, TCP, gRPC) and passive outlier detection for
//! [`lb_balance`] endpoint sets.
//!
//! Use this crate to decide which servers of a [`Balancer`] get traffic.
//! Every decision is written to the servers' shared
//! [`EndpointState`](lb_balance::EndpointState) flags, which every balancing
//! algorithm already honours; nothing here sits on the request path except
//! a few atomic updates per outcome.
//!
//! - [`active`]: probes as tower services ([`active::TcpCheck`],
//!   [`active::HttpCheck`], [`active::GrpcCheck`]) and a [`Checker`] that runs
//!   them every interval with rise/fall thresholds ([`spawn_active`]).
//! - [`passive`]: an [`OutlierDetector`] that ejects servers failing real
//!   traffic, and the [`PassiveHealthLayer`] tower middleware feeding it.
//! - [`drain()`] / [`enable()`]: operator actions for an admin API.
//! - [`events`]: every state change is a structured `tracing` event and goes
//!   to the subscribers of an [`EventSink`].
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//!
//! use lb_balance::{Algorithm, Balancer, Endpoint, Health};
//! use lb_health::passive::{FailureKind, Outcome};
//! use lb_health::{ActiveConfig, CheckKind, Checker, EventSink, OutlierDetector, PassiveConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // One server that listens, one that does not.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let up: SocketAddr = listener.local_addr()?;
//! let down: SocketAddr = {
//!     let l = std::net::TcpListener::bind("127.0.0.1:0")?;
//!     l.local_addr()?
//! }; // closed again
//! let balancer = Arc::new(Balancer::new(
//!     Algorithm::RoundRobin,
//!     vec![
//!         Endpoint::new(up.to_string(), up),
//!         Endpoint::new(down.to_string(), down),
//!     ],
//! ));
//! let events = EventSink::new().with_subscriber(|e| println!("{} {} -> {}", e.server, e.from, e.to));
//!
//! // Active TCP checks: two failed rounds take the closed port out.
//! let mut cfg = ActiveConfig::new(CheckKind::Tcp);
//! cfg.unhealthy_threshold = 2;
//! let mut checker = Checker::new("api".into(), Arc::clone(&balancer), &cfg, events.clone());
//! checker.run_round().await;
//! checker.run_round().await;
//! let snapshot = balancer.snapshot();
//! assert_eq!(snapshot.endpoints()[0].state().health(), Health::Healthy);
//! assert_eq!(snapshot.endpoints()[1].state().health(), Health::Unhealthy);
//! // In a server: `let _handle = lb_health::spawn_active(name, balancer, cfg, events);`
//!
//! // Passive detection: consecutive failures eject the first server.
//! let mut passive = PassiveConfig::default();
//! passive.consecutive_failures = 3;
//! passive.max_ejected_percent = 100;
//! let detector = OutlierDetector::new("api".into(), Arc::clone(&balancer), passive, events);
//! let first = &snapshot.endpoints()[0];
//! for _ in 0..3 {
//!     detector.observe(first, Outcome::Failure(FailureKind::Status5xx));
//! }
//! assert_eq!(first.state().health(), Health::Ejected);
//! # drop(listener);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! None: TCP, HTTP/1.1 and gRPC (h2c) probes are always built.
//!
//! # MSRV
//!
//! The workspace's `rust-version` (1.85).
//!
//! [`Balancer`]: lb_balance::Balancer

pub mod active;
pub mod drain;
pub mod events;
pub mod passive;

pub use active::{spawn_active, ActiveConfig, CheckKind, Checker, CheckerHandle};
pub use drain::{drain, enable};
pub use events::{EventSink, HealthEvent, Reason};
pub use passive::{
    FailureKind, Outcome, OutlierDetector, PassiveConfig, PassiveHealth, PassiveHealthLayer,
};

/// The boxed error type of wrapped services and custom probes.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
