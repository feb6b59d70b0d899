//! [`ForwardedHeadersLayer`]: the `X-Forwarded-*` and `X-Real-IP` headers as tower middleware.

use std::net::IpAddr;
use std::task::{Context, Poll};

use http::{HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use super::{apply_forwarded, Forwarded};

/// Adds `X-Forwarded-For` (appended), `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Real-IP`
/// to every request ([`apply_forwarded`]).
///
/// Built per connection, since it holds the client address and scheme. The original host is
/// taken from each request: its URI authority (HTTP/2 `:authority`) else its `Host` header.
///
/// ```
/// use http::{Request, Response};
/// use lb_l7::headers::ForwardedHeadersLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let layer = ForwardedHeadersLayer::new("192.0.2.9".parse()?, "http");
/// let svc = layer.layer(service_fn(|req: Request<()>| async move {
///     assert_eq!(req.headers()["x-forwarded-for"], "192.0.2.9");
///     assert_eq!(req.headers()["x-forwarded-host"], "example.com:8080");
///     Ok::<_, std::convert::Infallible>(Response::new(()))
/// }));
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// svc.oneshot(Request::get("/").header("host", "example.com:8080").body(())?).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ForwardedHeadersLayer {
    client_ip: IpAddr,
    proto: &'static str,
}

/// The service built by [`ForwardedHeadersLayer`].
#[derive(Clone, Debug)]
pub struct ForwardedHeadersService<S> {
    inner: S,
    client_ip: IpAddr,
    proto: &'static str,
}

// === impl ForwardedHeadersLayer ===

impl ForwardedHeadersLayer {
    /// A layer for one client connection: its address (TCP peer or PROXY protocol source) and
    /// the scheme it used (`"http"` or `"https"`).
    pub fn new(client_ip: IpAddr, proto: &'static str) -> Self {
        Self { client_ip, proto }
    }
}

impl<S> Layer<S> for ForwardedHeadersLayer {
    type Service = ForwardedHeadersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ForwardedHeadersService {
            inner,
            client_ip: self.client_ip,
            proto: self.proto,
        }
    }
}

// === impl ForwardedHeadersService ===

impl<S> ForwardedHeadersService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, client_ip: IpAddr, proto: &'static str) -> Self {
        Self {
            inner,
            client_ip,
            proto,
        }
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

impl<S, B> Service<Request<B>> for ForwardedHeadersService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let forwarded = Forwarded {
            client_ip: self.client_ip,
            proto: self.proto,
            host: original_host(&req),
        };
        apply_forwarded(req.headers_mut(), &forwarded);
        self.inner.call(req)
    }
}

/// The host as the client sent it (port included): URI authority without userinfo, else `Host`.
pub(crate) fn original_host<B>(req: &Request<B>) -> Option<HeaderValue> {
    match req.uri().authority() {
        Some(authority) => {
            let s = authority.as_str();
            let host = s.rfind('@').map_or(s, |at| &s[at + 1..]);
            HeaderValue::from_str(host).ok()
        }
        None => req.headers().get(http::header::HOST).cloned(),
    }
}
