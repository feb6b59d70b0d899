//! The response future shared by the header layers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use super::hop_by_hop::strip_keeping_upgrade;
use super::HeaderRewrite;

pin_project! {
    /// Response future of [`HeaderRewriteService`](super::HeaderRewriteService) and
    /// [`HopByHopService`](super::HopByHopService): resolves to the inner response with its
    /// headers changed.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        action: ResponseAction,
    }
}

/// What to do to the response headers.
#[derive(Clone, Debug)]
pub(crate) enum ResponseAction {
    /// Nothing.
    Keep,
    /// Apply this rewrite.
    Rewrite(Arc<HeaderRewrite>),
    /// Strip hop-by-hop headers, keeping `Connection: upgrade` + `Upgrade` on a 101.
    StripHopByHop,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, action: ResponseAction) -> Self {
        Self { inner, action }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        match this.action {
            ResponseAction::Keep => {}
            ResponseAction::Rewrite(rewrite) => rewrite.apply(response.headers_mut()),
            ResponseAction::StripHopByHop => {
                let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
                strip_keeping_upgrade(response.headers_mut(), switching);
            }
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}
