//! Request dispatch: method and path to handler.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::request::Parts;
use http::{Method, Request, StatusCode};

use super::response::{self, Resp};
use super::{servers, status, Ctx};

/// The dashboard page, self-contained (inline CSS and JS).
const DASHBOARD: &str = include_str!("../dashboard.html");

/// What `GET` on an unknown path lists.
const INDEX: &str = "lb admin API:
  GET  /                                          live dashboard (HTML)
  GET  /live                                      200 while the process runs
  GET  /ready                                     200 once listeners are bound, 503 after shutdown began
  GET  /status                                    JSON: listeners, upstreams, servers
  GET  /metrics                                   Prometheus text format
  POST /upstreams/{name}/servers/{addr}/drain     stop new requests to a server
  POST /upstreams/{name}/servers/{addr}/enable    undo drain
  POST /reload                                    re-read the configuration file";

/// Answer one admin request.
///
/// Request bodies are never read: no endpoint takes one.
pub(crate) async fn handle<B>(ctx: Arc<Ctx>, req: Request<B>) -> Result<Resp, Infallible> {
    let (parts, body) = req.into_parts();
    drop(body);
    Ok(route(&ctx, &parts).await)
}

async fn route(ctx: &Ctx, req: &Parts) -> Resp {
    let method = &req.method;
    let is_get = method == Method::GET || method == Method::HEAD;
    let shared = &ctx.shared;
    match req.uri.path() {
        "/" | "/dashboard" if is_get => {
            response::with_body(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD)
        }
        "/live" if is_get => response::text(StatusCode::OK, "live"),
        "/ready" if is_get => {
            if shared.ready.load(Ordering::Relaxed) {
                response::text(StatusCode::OK, "ready")
            } else {
                response::text(StatusCode::SERVICE_UNAVAILABLE, "not ready")
            }
        }
        "/status" if is_get => response::json(StatusCode::OK, &status::build(shared)),
        "/metrics" if is_get => {
            let body = shared.metrics.encode(&shared.runtime.load_full());
            response::with_body(StatusCode::OK, crate::metrics::CONTENT_TYPE, body)
        }
        "/" | "/dashboard" | "/live" | "/ready" | "/status" | "/metrics" => {
            response::method_not_allowed("GET, HEAD")
        }
        "/reload" => {
            if method != Method::POST {
                return response::method_not_allowed("POST");
            }
            if !response::authorized(&req.headers, shared.admin_token.as_deref()) {
                return response::unauthorized();
            }
            match ctx.control.reload().await {
                Ok(summary) => response::text(StatusCode::OK, summary),
                Err(errors) => response::text(
                    StatusCode::BAD_REQUEST,
                    format!("reload failed, nothing changed:\n{}", errors.join("\n")),
                ),
            }
        }
        path => match path.strip_prefix("/upstreams/") {
            Some(rest) => {
                if method != Method::POST {
                    return response::method_not_allowed("POST");
                }
                if !response::authorized(&req.headers, shared.admin_token.as_deref()) {
                    return response::unauthorized();
                }
                servers::handle(shared, rest)
            }
            None => response::text(
                StatusCode::NOT_FOUND,
                format!("no such admin endpoint: {path}\n\n{INDEX}"),
            ),
        },
    }
}
