//! The router and the reverse proxy: find the route, pick the upstream and
//! the server, rewrite headers, send over the pooled client with retries
//! and the route timeout, and relay the response.

use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, Uri};
use hyper::body::Incoming;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::route::Route;
use crate::routing::Routing;
use crate::server::{ConnInfo, HttpListener};
use crate::upstream::Upstream;

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
    let (route, upstream) = match select(&routing, req.method(), req.uri(), req.headers()) {
        Ok(selected) => selected,
        Err((route, err)) => {
            done.route = route.map(Route::index);
            return local(&err, done);
        }
    };
    done.route = Some(route.index());
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

/// A route and the upstream it names.
pub(crate) type Selected<'r> = (&'r Route, &'r Arc<Upstream>);

/// Why no upstream was selected: the route if one matched, and the error
/// to answer.
pub(crate) type NotSelected<'r> = (Option<&'r Route>, ProxyError);

/// The first route matching a request and the upstream it names (a split
/// picks one); on failure, the route if one matched, and the error to
/// answer (404 no route, 502 unknown upstream).
pub(crate) fn select<'r>(
    routing: &'r Routing,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Selected<'r>, NotSelected<'r>> {
    let host = crate::route::host_of(uri, headers);
    let Some(route) = routing.table.find(method, host, uri.path(), headers) else {
        return Err((None, ProxyError::NoRoute));
    };
    match routing.upstreams.get(route.pick_upstream(rng::next_u64())) {
        Some(up) => Ok((route, up)),
        None => Err((Some(route), ProxyError::UnknownUpstream)),
    }
}

/// A locally generated answer.
fn local(err: &ProxyError, mut done: Completion) -> Response<ProxyBody> {
    let resp = err.to_response();
    done.status = resp.status().as_u16();
    resp.map(|b| b.with_completion(done))
}
