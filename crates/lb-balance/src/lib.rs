//! Endpoint sets and load-balancing algorithms, usable in any tower stack.
//!
//! `lb-balance` is pure: no I/O, no async runtime. It holds
//! - [`EndpointState`]: per-server atomics (health flags, in-flight, latency,
//!   counters) shared lock-free between workers and health checkers;
//! - [`Balancer`]: an endpoint set plus an [`Algorithm`], picking from an
//!   `arc-swap` snapshot;
//! - [`hash`]: the fixed, seedless hash behind every hash algorithm.

mod algorithm;
mod balancer;
mod endpoint;
pub mod hash;
mod round_robin;

pub use algorithm::{
    Algorithm, UnknownAlgorithm, ALGORITHM_NAMES, DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_VNODES,
};
pub use balancer::{Balancer, PickRequest, Snapshot};
pub use endpoint::{Endpoint, EndpointId, EndpointState, EndpointStats, Health, InFlight};
