//! [`PassiveHealth`]: a tower middleware that reports every result of an
//! endpoint's service to an [`OutlierDetector`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use lb_balance::Endpoint;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{Classify, DefaultClassify, OutlierDetector};

/// What every request of one endpoint's service shares.
struct Ctx<T> {
    detector: OutlierDetector<T>,
    endpoint: Endpoint<T>,
}

/// Wraps the service of one endpoint: every result is classified by `C` and
/// fed to the detector. Requests, responses and errors pass through
/// unchanged; a response future dropped before it finished reports nothing.
pub struct PassiveHealth<S, T, C = DefaultClassify> {
    inner: S,
    ctx: Arc<Ctx<T>>,
    classify: C,
}

impl<S: Clone, T, C: Clone> Clone for PassiveHealth<S, T, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            ctx: Arc::clone(&self.ctx),
            classify: self.classify.clone(),
        }
    }
}

impl<S: fmt::Debug, T, C: fmt::Debug> fmt::Debug for PassiveHealth<S, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassiveHealth")
            .field("inner", &self.inner)
            .field("endpoint", self.ctx.endpoint.id())
            .field("classify", &self.classify)
            .finish()
    }
}

impl<S, T> PassiveHealth<S, T> {
    /// Wrap `inner`, the service of `endpoint`, with the default HTTP
    /// classification.
    pub fn new(inner: S, detector: OutlierDetector<T>, endpoint: Endpoint<T>) -> Self {
        Self {
            inner,
            ctx: Arc::new(Ctx { detector, endpoint }),
            classify: DefaultClassify,
        }
    }
}

impl<S, T, C> PassiveHealth<S, T, C> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwrap.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The endpoint this service reports for.
    pub fn endpoint(&self) -> &Endpoint<T> {
        &self.ctx.endpoint
    }
}

impl<S, T, C, Req> Service<Req> for PassiveHealth<S, T, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
    T: Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, T, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            ctx: Some(Arc::clone(&self.ctx)),
            classify: self.classify.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`PassiveHealth`]: reports the result when
    /// the inner future completes.
    pub struct ResponseFuture<F, T, C> {
        #[pin]
        inner: F,
        ctx: Option<Arc<Ctx<T>>>,
        classify: C,
    }
}

impl<F: fmt::Debug, T, C> fmt::Debug for ResponseFuture<F, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F, Res, E, T, C> Future for ResponseFuture<F, T, C>
where
    F: Future<Output = Result<Res, E>>,
    C: Classify<Res, E>,
    T: Clone + Send + Sync + 'static,
{
    type Output = Result<Res, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(ctx) = this.ctx.take() {
            let outcome = this.classify.classify(result.as_ref());
            ctx.detector.observe(&ctx.endpoint, outcome);
        }
        Poll::Ready(result)
    }
}

/// Builds [`PassiveHealth`] for one endpoint's service.
pub struct PassiveHealthLayer<T, C = DefaultClassify> {
    detector: OutlierDetector<T>,
    endpoint: Endpoint<T>,
    classify: C,
}

impl<T: Clone, C: Clone> Clone for PassiveHealthLayer<T, C> {
    fn clone(&self) -> Self {
        Self {
            detector: self.detector.clone(),
            endpoint: self.endpoint.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<T, C: fmt::Debug> fmt::Debug for PassiveHealthLayer<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassiveHealthLayer")
            .field("endpoint", self.endpoint.id())
            .field("classify", &self.classify)
            .finish()
    }
}

impl<T> PassiveHealthLayer<T> {
    /// A layer reporting `endpoint`'s results to `detector`, classified by
    /// [`DefaultClassify`].
    pub fn new(detector: OutlierDetector<T>, endpoint: Endpoint<T>) -> Self {
        Self {
            detector,
            endpoint,
            classify: DefaultClassify,
        }
    }
}

impl<T, C> PassiveHealthLayer<T, C> {
    /// Use another classification policy.
    pub fn with_classify<C2>(self, classify: C2) -> PassiveHealthLayer<T, C2> {
        PassiveHealthLayer {
            detector: self.detector,
            endpoint: self.endpoint,
            classify,
        }
    }
}

impl<S, T: Clone, C: Clone> Layer<S> for PassiveHealthLayer<T, C> {
    type Service = PassiveHealth<S, T, C>;

    fn layer(&self, inner: S) -> Self::Service {
        PassiveHealth {
            inner,
            ctx: Arc::new(Ctx {
                detector: self.detector.clone(),
                endpoint: self.endpoint.clone(),
            }),
            classify: self.classify.clone(),
        }
    }
}
