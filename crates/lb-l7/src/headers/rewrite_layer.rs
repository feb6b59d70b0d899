//! [`HeaderRewriteLayer`]: a fixed request and response [`HeaderRewrite`] as tower middleware.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::{ResponseAction, ResponseFuture};
use super::HeaderRewrite;

/// Applies one [`HeaderRewrite`] to every request and another to every response.
///
/// The router applies each route's own rewrites; this layer is for stacks that want the same
/// change on all traffic.
///
/// ```
/// use http::{HeaderName, HeaderValue, Request, Response};
/// use lb_l7::headers::{HeaderRewrite, HeaderRewriteLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let layer = HeaderRewriteLayer::new(
///     HeaderRewrite { remove: vec![HeaderName::from_static("x-debug")], ..Default::default() },
///     HeaderRewrite {
///         set: vec![(HeaderName::from_static("x-served-by"), HeaderValue::from_static("lb"))],
///         ..Default::default()
///     },
/// );
/// let svc = layer.layer(service_fn(|req: Request<()>| async move {
///     assert!(!req.headers().contains_key("x-debug"));
///     Ok::<_, std::convert::Infallible>(Response::new(()))
/// }));
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let req = Request::get("/").header("x-debug", "1").body(())?;
/// let res = svc.oneshot(req).await?;
/// assert_eq!(res.headers()["x-served-by"], "lb");
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct HeaderRewriteLayer {
    request: Arc<HeaderRewrite>,
    response: Arc<HeaderRewrite>,
}

/// The service built by [`HeaderRewriteLayer`].
#[derive(Clone, Debug)]
pub struct HeaderRewriteService<S> {
    inner: S,
    request: Arc<HeaderRewrite>,
    response: Arc<HeaderRewrite>,
}

// === impl HeaderRewriteLayer ===

impl HeaderRewriteLayer {
    /// A layer applying `request` to requests and `response` to responses.
    pub fn new(request: HeaderRewrite, response: HeaderRewrite) -> Self {
        Self {
            request: Arc::new(request),
            response: Arc::new(response),
        }
    }
}

impl<S> Layer<S> for HeaderRewriteLayer {
    type Service = HeaderRewriteService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HeaderRewriteService {
            inner,
            request: self.request.clone(),
            response: self.response.clone(),
        }
    }
}

// === impl HeaderRewriteService ===

impl<S> HeaderRewriteService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, request: HeaderRewrite, response: HeaderRewrite) -> Self {
        HeaderRewriteLayer::new(request, response).layer(inner)
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for HeaderRewriteService<S>
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
        self.request.apply(req.headers_mut());
        let action = if self.response.is_empty() {
            ResponseAction::Keep
        } else {
            ResponseAction::Rewrite(self.response.clone())
        };
        ResponseFuture::new(self.inner.call(req), action)
    }
}
