//! [`BalanceLayer`]: builds a [`Balance`] from a list of endpoints.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::key::NoKey;
use super::Balance;
use crate::algorithm::Algorithm;
use crate::balancer::Balancer;
use crate::endpoint::Endpoint;

/// A [`Layer`] turning a `Vec<Endpoint<S>>` into a [`Balance<S, K>`], so a
/// balancer can sit in a `tower::ServiceBuilder` under the user's own
/// layers:
///
/// ```
/// use lb_balance::{Algorithm, BalanceLayer, Endpoint};
/// use tower::{service_fn, ServiceBuilder};
///
/// let echo = service_fn(|x: u32| async move { Ok::<_, std::convert::Infallible>(x) });
/// let svc = ServiceBuilder::new()
///     .map_request(|x: u32| x + 1) // any layer of yours
///     .layer(BalanceLayer::new(Algorithm::P2c))
///     .service(vec![Endpoint::new("a", echo), Endpoint::new("b", echo)]);
/// # let _ = svc;
/// ```
#[derive(Clone)]
pub struct BalanceLayer<K = NoKey> {
    algorithm: Algorithm,
    key: K,
    seed: Option<u64>,
}

impl BalanceLayer<NoKey> {
    /// Balance with `algorithm`, without hash keys.
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            key: NoKey,
            seed: None,
        }
    }
}

impl<K> BalanceLayer<K> {
    /// Take each request's hash key with `key` (see
    /// [`KeyFn`](super::KeyFn)).
    #[must_use]
    pub fn key<K2>(self, key: K2) -> BalanceLayer<K2> {
        BalanceLayer {
            algorithm: self.algorithm,
            key,
            seed: self.seed,
        }
    }

    /// Seed the random algorithms (see [`Balancer::with_seed`]).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

impl<K> fmt::Debug for BalanceLayer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceLayer")
            .field("algorithm", &self.algorithm)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, K: Clone> Layer<Vec<Endpoint<S>>> for BalanceLayer<K> {
    type Service = Balance<S, K>;

    fn layer(&self, endpoints: Vec<Endpoint<S>>) -> Self::Service {
        let mut balancer = Balancer::new(self.algorithm.clone(), endpoints);
        if let Some(seed) = self.seed {
            balancer = balancer.with_seed(seed);
        }
        Balance::from_balancer(Arc::new(balancer), self.key.clone())
    }
}
