//! [`HopByHopLayer`]: hop-by-hop stripping on requests and responses as tower middleware.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::{ResponseAction, ResponseFuture};
use super::hop_by_hop::strip_keeping_upgrade;

/// Strips hop-by-hop headers ([`strip_hop_by_hop`](super::strip_hop_by_hop)) from requests on
/// the way in and from responses on the way out.
///
/// So that protocol upgrades (WebSocket) still work through it, a request that asks to upgrade
/// keeps `connection: upgrade` and its `Upgrade` value, and so does a `101 Switching Protocols`
/// response; every other hop-by-hop header is removed from them as usual.
///
/// Put it before (outside) [`ForwardedHeadersLayer`](super::ForwardedHeadersLayer), so that a
/// client cannot remove the forwarding headers by naming them in `Connection`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HopByHopLayer {
    _priv: (),
}

/// The service built by [`HopByHopLayer`].
#[derive(Clone, Debug)]
pub struct HopByHopService<S> {
    inner: S,
}

// === impl HopByHopLayer ===

impl HopByHopLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for HopByHopLayer {
    type Service = HopByHopService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HopByHopService { inner }
    }
}

// === impl HopByHopService ===

impl<S> HopByHopService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for HopByHopService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        strip_keeping_upgrade(req.headers_mut(), true);
        ResponseFuture::new(self.inner.call(req), ResponseAction::StripHopByHop)
    }
}
