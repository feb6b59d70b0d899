//! [`Balancer`]: an endpoint set plus an algorithm, picking without locks.
//!
//! Membership changes build a new [`Snapshot`] (with the algorithm's tables)
//! off the request path and publish it with `arc-swap`; a pick loads the
//! snapshot pointer and reads atomics.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::algorithm::Algorithm;
use crate::endpoint::{Endpoint, EndpointId};

/// What the caller knows about the request being balanced.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickRequest<'a> {
    /// The request's hash key, from [`crate::hash`]; used by `ip_hash`,
    /// `consistent_hash` and `maglev` (others ignore it). `None` makes the
    /// hash algorithms fall back to round robin.
    pub key: Option<u64>,
    /// [`EndpointState::uid`](crate::EndpointState::uid)s not to pick: the
    /// servers a retry already tried.
    pub exclude: &'a [u64],
}

impl<'a> PickRequest<'a> {
    /// A request with a hash key.
    #[must_use]
    pub fn with_key(key: u64) -> Self {
        Self {
            key: Some(key),
            exclude: &[],
        }
    }
}

/// An immutable view of the endpoint set with the algorithm's tables.
pub struct Snapshot<T> {
    pub(crate) endpoints: Vec<Endpoint<T>>,
    pub(crate) table: crate::algorithm::Table,
}

impl<T> fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("endpoints", &self.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl<T> Snapshot<T> {
    /// The endpoints, in configuration order.
    #[must_use]
    pub fn endpoints(&self) -> &[Endpoint<T>] {
        &self.endpoints
    }

    /// The endpoint with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Endpoint<T>> {
        self.endpoints.iter().find(|e| &**e.id() == id)
    }
}

/// An endpoint set balanced by one [`Algorithm`].
///
/// Shared by reference (`Arc<Balancer<T>>`) between workers; every method
/// takes `&self`.
pub struct Balancer<T> {
    algorithm: Algorithm,
    snapshot: ArcSwap<Snapshot<T>>,
    /// Per-balancer rotating counter (round robin position, tie breaking).
    pub(crate) cursor: AtomicU64,
}

impl<T> fmt::Debug for Balancer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("algorithm", &self.algorithm)
            .field("endpoints", &self.snapshot.load().endpoints.len())
            .finish()
    }
}

impl<T: Clone> Balancer<T> {
    /// A balancer over `endpoints` (their states are used as given).
    pub fn new(algorithm: Algorithm, endpoints: Vec<Endpoint<T>>) -> Self {
        let table = algorithm.build(&endpoints);
        Self {
            algorithm,
            snapshot: ArcSwap::from_pointee(Snapshot { endpoints, table }),
            cursor: AtomicU64::new(0),
        }
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot<T>> {
        self.snapshot.load_full()
    }

    /// Replace the membership. An endpoint whose id was already present keeps
    /// its [`EndpointState`](crate::EndpointState) (health, ejection, drain,
    /// in-flight, counters); new ones keep the state they were built with.
    pub fn update(&self, endpoints: Vec<Endpoint<T>>) {
        let old = self.snapshot.load();
        let by_id: HashMap<&EndpointId, &Endpoint<T>> =
            old.endpoints.iter().map(|e| (e.id(), e)).collect();
        let endpoints: Vec<Endpoint<T>> = endpoints
            .into_iter()
            .map(|e| match by_id.get(e.id()) {
                Some(prev) => e.with_state(Arc::clone(prev.state())),
                None => e,
            })
            .collect();
        let table = self.algorithm.build(&endpoints);
        self.snapshot.store(Arc::new(Snapshot { endpoints, table }));
    }

    /// Pick an endpoint for a request: an available primary if there is one,
    /// else an available backup, else `None` (the caller answers 503).
    #[must_use]
    pub fn pick(&self, req: &PickRequest<'_>) -> Option<Endpoint<T>> {
        let snap = self.snapshot.load();
        let idx = self.algorithm.pick(self, &snap, req)?;
        snap.endpoints.get(idx).cloned()
    }
}
