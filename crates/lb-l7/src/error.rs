//! The one place where failures become responses: each [`ProxyError`] knows
//! its status and a short plain-text body (SPEC §4: 502, 503, 504, 400, 431).
//!
//! Malformed or oversized HTTP/1.1 heads never reach the proxy: hyper
//! answers them itself (400, or 431 beyond
//! [`ListenerOptions::max_header_bytes`](crate::ListenerOptions::max_header_bytes))
//! and closes the connection; HTTP/2 does the same per stream (431).

use std::io;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::Uri;
use http::{Response, StatusCode};

use crate::body::ProxyBody;

/// A boxed error, as carried by [`ProxyError`] sources.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a connection to a server could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The request URI does not name a server address (a bug, never the
    /// client's doing).
    #[error("not a server address: {0}")]
    Address(Uri),
    /// TCP and TLS did not complete within `connect_timeout`.
    #[error("connect timeout after {0:?}")]
    Timeout(Duration),
    /// The TCP connection failed (refused, unreachable).
    #[error("connect failed")]
    Tcp(#[source] io::Error),
    /// The TLS handshake failed.
    #[error("tls handshake failed")]
    Tls(#[source] io::Error),
}

/// A request the proxy could not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// No route matches the request.
    #[error("no route matches the request")]
    NoRoute,
    /// The route names an upstream the routing snapshot does not have.
    #[error("the route's upstream is not configured")]
    UnknownUpstream,
    /// Every server is unhealthy, ejected, draining or full.
    #[error("no server available")]
    NoServer,
    /// The server could not be reached: refused, connect timeout, TLS failure.
    #[error("server unreachable")]
    Unreachable(#[source] BoxError),
    /// The connection failed before the response head arrived.
    #[error("server connection reset")]
    Reset(#[source] BoxError),
    /// The route timeout expired before the response head arrived.
    #[error("server did not answer in time")]
    Timeout,
    /// The request cannot be forwarded as it is.
    #[error("malformed request: {0}")]
    BadRequest(&'static str),
    /// The request head is larger than allowed.
    #[error("request header fields too large")]
    HeaderTooLarge,
}

impl ProxyError {
    /// The status answered to the client.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::UnknownUpstream | ProxyError::Unreachable(_) | ProxyError::Reset(_) => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::NoServer => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::HeaderTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    /// The short plain-text body answered to the client (no internals, no
    /// addresses).
    #[must_use]
    pub fn body_text(&self) -> &'static str {
        match self {
            ProxyError::NoRoute => "404 not found: no route\n",
            ProxyError::UnknownUpstream => "502 bad gateway: upstream not configured\n",
            ProxyError::NoServer => "503 service unavailable: no server available\n",
            ProxyError::Unreachable(_) => "502 bad gateway: server unreachable\n",
            ProxyError::Reset(_) => "502 bad gateway: server connection failed\n",
            ProxyError::Timeout => "504 gateway timeout\n",
            ProxyError::BadRequest(_) => "400 bad request\n",
            ProxyError::HeaderTooLarge => "431 request header fields too large\n",
        }
    }

    /// The response for this error.
    #[must_use]
    pub fn to_response(&self) -> Response<ProxyBody> {
        tracing::trace!(target: "lb_l7::error", status = self.status().as_u16(), error = %self);
        let mut resp = Response::new(ProxyBody::text(self.body_text()));
        *resp.status_mut() = self.status();
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_starts_its_body_with_its_status() {
        let all = [
            ProxyError::NoRoute,
            ProxyError::UnknownUpstream,
            ProxyError::NoServer,
            ProxyError::Unreachable("x".into()),
            ProxyError::Reset("x".into()),
            ProxyError::Timeout,
            ProxyError::BadRequest("x"),
            ProxyError::HeaderTooLarge,
        ];
        for e in all {
            assert!(e.body_text().starts_with(e.status().as_str()), "{e:?}");
        }
    }
}
