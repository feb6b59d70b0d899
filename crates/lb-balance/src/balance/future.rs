//! [`ResponseFuture`]: drives the picked inner service and ends the request's
//! [`InFlight`] guard.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::{BoxError, NoEndpoints};
use crate::in_flight::InFlight;

pin_project! {
    /// The response future of [`Balance`](super::Balance).
    ///
    /// Waits for the picked inner service to be ready, calls it, and awaits
    /// the response. The request counts as in flight on its endpoint until
    /// this future completes or is dropped. A response records its latency
    /// in the endpoint's peak-EWMA estimate; an error (from readiness or the
    /// call) counts as a failure and records no latency, so a server failing
    /// fast does not look fast.
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
        guard: Option<InFlight>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Ready { svc: S, req: Option<Req> },
        Called { #[pin] fut: S::Future },
        NoEndpoints,
        Done,
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(super) fn new(svc: S, req: Req, guard: InFlight) -> Self {
        Self {
            state: State::Ready {
                svc,
                req: Some(req),
            },
            guard: Some(guard),
        }
    }

    pub(super) fn no_endpoints() -> Self {
        Self {
            state: State::NoEndpoints,
            guard: None,
        }
    }
}

/// Count the failure and end the request without a latency sample.
fn failed(guard: &mut Option<InFlight>, error: BoxError) -> BoxError {
    if let Some(guard) = guard.take() {
        if let Some(state) = guard.state() {
            state.record_failure();
        }
        guard.finish_without_latency();
    }
    error
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Ready { svc, req } => {
                    if let Err(e) = ready!(svc.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(failed(this.guard, e.into())));
                    }
                    let Some(req) = req.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err("request already sent".into()));
                    };
                    let fut = svc.call(req);
                    this.state.set(State::Called { fut });
                }
                StateProj::Called { fut } => {
                    let out = ready!(fut.poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(match out {
                        Ok(response) => {
                            if let Some(guard) = this.guard.take() {
                                guard.finish();
                            }
                            Ok(response)
                        }
                        Err(e) => Err(failed(this.guard, e.into())),
                    });
                }
                StateProj::NoEndpoints => {
                    this.state.set(State::Done);
                    return Poll::Ready(Err(NoEndpoints.into()));
                }
                StateProj::Done => {
                    return Poll::Ready(Err("response future polled after completion".into()));
                }
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("in_flight", &self.guard)
            .finish_non_exhaustive()
    }
}
