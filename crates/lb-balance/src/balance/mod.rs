//! [`Balance`]: a tower `Service` that balances requests over inner
//! services with any [`Algorithm`].
//!
//! The inner services are the values of a [`Balancer`]'s endpoints. For each
//! request `Balance` takes the hash key from the request with a [`KeyFn`],
//! picks an endpoint, counts the request on it (an [`InFlight`] guard),
//! clones its service and drives that clone's readiness and call inside the
//! [`ResponseFuture`]. The guard ends when the response future completes, or
//! when it is dropped half-way, so `least_conn`, `p2c`, `peak_ewma` and
//! bounded loads see the right load whatever happens to the request.
//!
//! `Balance` is always ready: it cannot know which inner service a request
//! needs before seeing the request (as a router, it drives the chosen
//! service's readiness in the call future). Health is decided elsewhere
//! (`lb-health`, or your code calling
//! [`EndpointState::set_unhealthy`](crate::EndpointState::set_unhealthy)),
//! never by polling inner services, so a slow endpoint cannot stall the
//! others. When no endpoint can be picked the call fails at once with
//! [`NoEndpoints`].
//!
//! [`InFlight`]: crate::InFlight

mod error;
mod future;
mod key;
mod layer;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::algorithm::Algorithm;
use crate::balancer::{Balancer, PickRequest};
use crate::endpoint::Endpoint;

pub use error::NoEndpoints;
pub use future::ResponseFuture;
pub use key::{KeyFn, NoKey};
pub use layer::BalanceLayer;

/// The error type of [`Balance`]: inner errors boxed, or [`NoEndpoints`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Balances requests over the inner services of a [`Balancer`].
///
/// `S` is the inner service type (every endpoint's value), `K` the key
/// extractor ([`NoKey`] for algorithms that need none).
pub struct Balance<S, K = NoKey> {
    balancer: Arc<Balancer<S>>,
    key: K,
}

impl<S: Clone> Balance<S, NoKey> {
    /// Balance over `endpoints` with `algorithm`, without hash keys (hash
    /// algorithms then fall back to round robin).
    pub fn new(algorithm: Algorithm, endpoints: Vec<Endpoint<S>>) -> Self {
        Self::from_balancer(Arc::new(Balancer::new(algorithm, endpoints)), NoKey)
    }

    /// A [`BalanceLayer`] building `Balance`s with `algorithm` from a list of
    /// endpoints.
    #[must_use]
    pub fn layer(algorithm: Algorithm) -> BalanceLayer<NoKey> {
        BalanceLayer::new(algorithm)
    }
}

impl<S: Clone, K> Balance<S, K> {
    /// Balance over `endpoints` with `algorithm`, taking each request's hash
    /// key with `key` (e.g. `|req: &Req| Some(hash::hash_ip(req.peer.ip()))`).
    pub fn with_key(algorithm: Algorithm, endpoints: Vec<Endpoint<S>>, key: K) -> Self {
        Self::from_balancer(Arc::new(Balancer::new(algorithm, endpoints)), key)
    }

    /// Balance over a shared balancer: keep a clone of the `Arc` to change the
    /// membership ([`Balancer::update`]) or mark endpoints down while the
    /// service runs.
    pub fn from_balancer(balancer: Arc<Balancer<S>>, key: K) -> Self {
        Self { balancer, key }
    }

    /// The balancer.
    pub fn get_ref(&self) -> &Arc<Balancer<S>> {
        &self.balancer
    }

    /// The balancer, mutably (to swap in another one).
    pub fn get_mut(&mut self) -> &mut Arc<Balancer<S>> {
        &mut self.balancer
    }

    /// The balancer, consuming the service.
    pub fn into_inner(self) -> Arc<Balancer<S>> {
        self.balancer
    }
}

impl<S, K: Clone> Clone for Balance<S, K> {
    fn clone(&self) -> Self {
        Self {
            balancer: Arc::clone(&self.balancer),
            key: self.key.clone(),
        }
    }
}

impl<S, K> fmt::Debug for Balance<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balance")
            .field("balancer", &self.balancer)
            .finish_non_exhaustive()
    }
}

impl<S, K, Req> Service<Req> for Balance<S, K>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    K: KeyFn<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let pick = PickRequest {
            key: self.key.key(&req),
            exclude: &[],
        };
        match self.balancer.pick(&pick) {
            Some(endpoint) => {
                let guard = endpoint.state().start();
                ResponseFuture::new(endpoint.into_value(), req, guard)
            }
            None => ResponseFuture::no_endpoints(),
        }
    }
}
