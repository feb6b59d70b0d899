//! Endpoint sets and load-balancing algorithms, usable in any tower stack.
//!
//! `lb-balance` is pure: no I/O, no async runtime. It holds
//! - [`EndpointState`]: per-server atomics (health flags, in-flight, latency,
//!   counters) shared lock-free between workers and health checkers;
//! - [`Balancer`]: an endpoint set plus an [`Algorithm`], picking from an
//!   `arc-swap` snapshot without locks or allocation;
//! - every algorithm of the `lb` configuration: `round_robin` (smooth
//!   weighted), `least_conn`, `random`, `p2c`, `peak_ewma`, `ip_hash`,
//!   `consistent_hash` (with bounded loads) and `maglev`;
//! - [`hash`]: the fixed, seedless hash behind every hash algorithm;
//! - [`Balance`]: a tower `Service` balancing requests over inner services,
//!   with [`BalanceLayer`] to build it in a `ServiceBuilder`.
//!
//! Use it on its own to pick servers for your own proxy, or put
//! [`Balance`] in a tower stack. See `docs/algorithms.md` for what each
//! algorithm does and how they compare.
//!
//! # Example
//!
//! Balance requests over two inner services by a key taken from the request
//! (here the request itself, a user name), so that a user sticks to one
//! service:
//!
//! ```
//! use lb_balance::{hash, Algorithm, Balance, Endpoint};
//! use tower::{service_fn, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let backend = |name: &'static str| {
//!     service_fn(move |user: String| async move {
//!         Ok::<_, std::convert::Infallible>(format!("{name} serves {user}"))
//!     })
//! };
//! let endpoints = vec![
//!     Endpoint::new("10.0.0.1:80", backend("one")),
//!     Endpoint::new("10.0.0.2:80", backend("two")),
//! ];
//! let svc = Balance::with_key(
//!     Algorithm::Maglev { table_size: 65537, bounded_load: None },
//!     endpoints,
//!     |user: &String| Some(hash::hash_key(user.as_bytes())),
//! );
//! let first = svc.clone().oneshot("alice".to_owned()).await?;
//! let again = svc.oneshot("alice".to_owned()).await?;
//! assert_eq!(first, again);
//! # Ok(())
//! # }
//! ```
//!
//! Features: none. MSRV: the workspace's `rust-version` (1.85).

mod algorithm;
pub mod balance;
mod balancer;
mod bounded;
mod consistent_hash;
mod endpoint;
pub mod hash;
mod in_flight;
mod ip_hash;
mod least_conn;
mod maglev;
mod p2c;
mod peak_ewma;
mod random;
mod rng;
mod round_robin;
mod state;
mod table;

pub use algorithm::{
    is_prime, Algorithm, UnknownAlgorithm, ALGORITHM_NAMES, DEFAULT_MAGLEV_TABLE_SIZE,
    DEFAULT_VNODES, MAX_MAGLEV_TABLE_SIZE, MAX_VNODES,
};
pub use balance::{Balance, BalanceLayer, NoEndpoints};
pub use balancer::{Balancer, PickRequest, Snapshot};
pub use endpoint::{Endpoint, EndpointId};
pub use in_flight::InFlight;
pub use state::{EndpointState, EndpointStats, Health};
