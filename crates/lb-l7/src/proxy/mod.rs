//! The router and the reverse proxy: find the route, pick the upstream and
//! the server, rewrite headers, send over the pooled client with retries
//! and the route timeout, and relay the response.

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::route::request_host;
use crate::server::{ConnInfo, HttpListener};

pub(crate) mod fast;
mod forward;
mod key;
pub(crate) mod record;
mod relay;
mod rng;
mod upgrade;

pub(crate) use forward::Forward;
use record::Completion;

/// Most tries of one request, first included.
const MAX_TRIES: usize = 8;

/// Route one request and proxy it.
pub(crate) async fn handle(
    listener: &HttpListener,
    info: ConnInfo,
    tls: bool,
    req: Request<Incoming>,
    mut done: Completion,
) -> Response<ProxyBody> {
    let routing = listener.routing();
    let route = routing.table.find(
        req.method(),
        request_host(&req),
        req.uri().path(),
        req.headers(),
    );
    let Some(route) = route else {
        return local(&ProxyError::NoRoute, done);
    };
    done.route = Some(route.index());
    let Some(upstream) = routing.upstreams.get(route.pick_upstream(rng::next_u64())) else {
        return local(&ProxyError::UnknownUpstream, done);
    };
    done.upstream = Some(Arc::clone(upstream));
    Forward {
        up: upstream,
        route,
        info,
        tls,
    }
    .run(req, done)
    .await
}

/// A locally generated answer.
fn local(err: &ProxyError, mut done: Completion) -> Response<ProxyBody> {
    let resp = err.to_response();
    done.status = resp.status().as_u16();
    resp.map(|b| b.with_completion(done))
}
