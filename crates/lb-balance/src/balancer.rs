//! [`Balancer`]: an endpoint set plus an algorithm, picking without locks.
//!
//! Membership changes build a new [`Snapshot`] (with the algorithm's tables)
//! off the request path and publish it with `arc-swap`; a pick loads the
//! snapshot pointer, reads atomics, and allocates nothing.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::algorithm::Algorithm;
use crate::endpoint::{Endpoint, EndpointId};
use crate::rng::Rng;
use crate::table::{Ctx, Table};

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

impl PickRequest<'_> {
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
    pub(crate) table: Table,
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

/// The state every pick may write, on its own cache lines so that writers
/// do not slow down readers of the snapshot pointer.
#[derive(Debug)]
#[repr(align(128))]
struct Shared {
    /// Rotating counter (round robin position, `least_conn` tie breaking).
    cursor: AtomicU64,
    rng: Rng,
}

/// An endpoint set balanced by one [`Algorithm`].
///
/// Shared by reference (`Arc<Balancer<T>>`) between workers; every method
/// takes `&self`. A pick skips endpoints that are unhealthy, ejected,
/// draining or at their connection limit and those the request excludes,
/// and uses backups only when no primary can be picked.
///
/// ```
/// use lb_balance::{Algorithm, Balancer, Endpoint, PickRequest};
///
/// let balancer = Balancer::new(
///     Algorithm::RoundRobin,
///     vec![
///         Endpoint::new("a:80", "a").with_weight(3),
///         Endpoint::new("b:80", "b"),
///         Endpoint::new("c:80", "c"),
///     ],
/// );
/// let picks: Vec<&str> = (0..5)
///     .map(|_| *balancer.pick(&PickRequest::default()).unwrap().value())
///     .collect();
/// assert_eq!(picks, ["a", "b", "a", "c", "a"]);
/// ```
pub struct Balancer<T> {
    algorithm: Algorithm,
    snapshot: ArcSwap<Snapshot<T>>,
    shared: Shared,
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
    ///
    /// Never fails: invalid algorithm parameters are corrected as
    /// [`Algorithm::validate`] describes; use [`try_new`](Self::try_new) to
    /// reject them instead.
    pub fn new(algorithm: Algorithm, endpoints: Vec<Endpoint<T>>) -> Self {
        let table = algorithm.build(&endpoints);
        Self {
            algorithm,
            snapshot: ArcSwap::from_pointee(Snapshot { endpoints, table }),
            shared: Shared {
                cursor: AtomicU64::new(0),
                rng: Rng::Thread,
            },
        }
    }

    /// A balancer over `endpoints`, if the algorithm's parameters are valid.
    ///
    /// # Errors
    ///
    /// The message of [`Algorithm::validate`].
    pub fn try_new(algorithm: Algorithm, endpoints: Vec<Endpoint<T>>) -> Result<Self, String> {
        algorithm.validate()?;
        Ok(Self::new(algorithm, endpoints))
    }

    /// Draw random numbers (for `random`, `p2c`, `peak_ewma`) from a
    /// sequence seeded with `seed`, so that a single-threaded test or
    /// simulation makes the same picks on every run. A seeded balancer's
    /// threads share one atomic counter; the default per-thread generators
    /// write no shared memory.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.shared.rng = Rng::seeded(seed);
        self
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
    /// The tables are rebuilt here, on the caller's thread.
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
    ///
    /// Lock-free and allocation-free (the clone of the endpoint copies two
    /// `Arc`s and clones the value).
    #[must_use]
    pub fn pick(&self, req: &PickRequest<'_>) -> Option<Endpoint<T>> {
        let snap = self.snapshot.load();
        let ctx = Ctx {
            exclude: req.exclude,
            cursor: &self.shared.cursor,
            rng: &self.shared.rng,
        };
        let idx = self.algorithm.pick(&snap.table, &ctx, req.key)?;
        snap.endpoints.get(idx).cloned()
    }
}
