//! `POST /upstreams/{name}/servers/{addr}/drain` and `.../enable`.
//!
//! Draining sets the server's `EndpointState` draining flag: the balancer
//! stops picking it at once, requests in flight finish. The flag lives in the
//! endpoint state, which a reload keeps for servers that stay.

use std::net::SocketAddr;

use http::StatusCode;

use super::response::{self, percent_decode, Resp};
use super::status;
use crate::state::Shared;

/// `rest` is the path after `/upstreams/`.
pub(crate) fn handle(shared: &Shared, rest: &str) -> Resp {
    let parts: Vec<&str> = rest.split('/').collect();
    let [name, "servers", addr, action] = parts.as_slice() else {
        return response::text(
            StatusCode::NOT_FOUND,
            "expected POST /upstreams/{name}/servers/{addr}/drain or .../enable",
        );
    };
    let draining = match *action {
        "drain" => true,
        "enable" => false,
        other => {
            return response::text(
                StatusCode::NOT_FOUND,
                format!("unknown action {other:?}: expected drain or enable"),
            )
        }
    };
    let (Some(name), Some(addr)) = (percent_decode(name), percent_decode(addr)) else {
        return response::text(StatusCode::BAD_REQUEST, "malformed %-escape in the path");
    };
    set_draining(shared, &name, &addr, draining)
}

fn set_draining(shared: &Shared, name: &str, addr: &str, draining: bool) -> Resp {
    let runtime = shared.runtime.load();
    let Some(upstream) = runtime.upstreams.get(name) else {
        let known: Vec<&str> = runtime.upstreams.keys().map(String::as_str).collect();
        return response::text(
            StatusCode::NOT_FOUND,
            format!(
                "unknown upstream {name:?}; known upstreams: {}",
                list_or_none(&known)
            ),
        );
    };
    let wanted: Option<SocketAddr> = addr.parse().ok();
    let snapshot = upstream.balancer.snapshot();
    let mut changed = Vec::new();
    for endpoint in snapshot.endpoints() {
        // By the configured id, or by the resolved address.
        if &**endpoint.id() == addr || wanted == Some(*endpoint.value()) {
            endpoint.state().set_draining(draining);
            changed.push(status::server(
                endpoint.id(),
                endpoint.weight(),
                endpoint.is_backup(),
                endpoint.state(),
            ));
        }
    }
    if changed.is_empty() {
        let known: Vec<&str> = snapshot.endpoints().iter().map(|e| &**e.id()).collect();
        return response::text(
            StatusCode::NOT_FOUND,
            format!(
                "upstream {name:?} has no server {addr:?}; its servers: {}",
                list_or_none(&known)
            ),
        );
    }
    let verb = if draining { "draining" } else { "enabled" };
    for s in &changed {
        tracing::info!(upstream = name, server = %s.addr, active = s.active, "admin: server {verb}");
    }
    response::json(
        StatusCode::OK,
        &serde_json::json!({ "upstream": name, "servers": changed }),
    )
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}
