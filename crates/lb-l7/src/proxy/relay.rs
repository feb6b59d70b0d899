//! Preparing the request for the server and the server's response for the
//! client: header stripping and rewriting, the server URI, upgrades and the
//! sticky cookie.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HOST, SET_COOKIE, UPGRADE};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use lb_balance::{Endpoint, InFlight};

use super::forward::Forward;
use super::record::Completion;
use super::upgrade::{self, ClientUpgrade};
use crate::body::ProxyBody;
use crate::headers::{apply_forwarded, strip_hop_by_hop, Forwarded};
use crate::options::UpstreamProtocol;
use crate::upstream::index::{self, EndpointIndex};

impl Forward<'_> {
    /// Hop-by-hop stripping, forwarding headers, the route's rewrite, and
    /// what the upstream protocol needs.
    pub(super) fn rewrite_request(&self, parts: &mut Parts, upgrade: Option<&ClientUpgrade>) {
        let host = match parts.headers.get(HOST) {
            Some(h) => Some(h.clone()),
            None => parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
        };
        strip_hop_by_hop(&mut parts.headers);
        apply_forwarded(
            &mut parts.headers,
            &Forwarded {
                client_ip: self.info.client.ip(),
                proto: if self.tls { "https" } else { "http" },
                host: host.clone(),
            },
        );
        self.route.request_headers().apply(&mut parts.headers);
        if let Some(host) = host {
            parts.headers.entry(HOST).or_insert(host);
        }
        if let Some(up) = upgrade {
            upgrade::restore_headers(&mut parts.headers, up.protocol.clone());
        }
        parts.version = match self.up.options().protocol {
            UpstreamProtocol::Http2 => Version::HTTP_2,
            _ => Version::HTTP_11,
        };
    }

    pub(super) fn server_uri(
        &self,
        index: &EndpointIndex,
        pos: usize,
        ep: &Endpoint<SocketAddr>,
        path: http::uri::PathAndQuery,
    ) -> Uri {
        let authority = match index.entries.get(pos) {
            Some(e) => e.authority.clone(),
            None => index::authority(*ep.value()),
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.up.scheme().clone());
        parts.authority = Some(authority);
        parts.path_and_query = Some(path);
        Uri::from_parts(parts).unwrap_or_default()
    }

    /// The server's response, on its way to the client.
    pub(super) fn relay(
        &self,
        resp: Response<Incoming>,
        ep: &Endpoint<SocketAddr>,
        guard: InFlight,
        upgrade: Option<ClientUpgrade>,
        cookie: Option<HeaderValue>,
        mut done: Completion,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = resp.into_parts();
        parts.version = Version::HTTP_11;
        done.server = Some(Arc::clone(ep.id()));
        done.status = parts.status.as_u16();
        if parts.status == StatusCode::SWITCHING_PROTOCOLS {
            let protocol = parts.headers.get(UPGRADE).cloned();
            let server = parts.extensions.remove::<OnUpgrade>();
            // The server connection becomes the tunnel: never pooled again.
            done.lease = None;
            if let (Some(client), Some(server), Some(protocol)) = (upgrade, server, protocol) {
                strip_hop_by_hop(&mut parts.headers);
                upgrade::restore_headers(&mut parts.headers, protocol);
                self.route.response_headers().apply(&mut parts.headers);
                self.up.observe(ep.state(), None);
                tokio::spawn(upgrade::tunnel(client.on_upgrade, server, guard));
                return Response::from_parts(parts, ProxyBody::empty().with_completion(done));
            }
        }
        strip_hop_by_hop(&mut parts.headers);
        self.route.response_headers().apply(&mut parts.headers);
        if let Some(cookie) = cookie {
            parts.headers.append(SET_COOKIE, cookie);
        }
        done.guard = Some(guard);
        Response::from_parts(parts, ProxyBody::upstream(body).with_completion(done))
    }
}

/// The `Set-Cookie` to send when the server at `pos` is not the one the
/// client's cookie named (`wanted`).
pub(super) fn sticky_cookie(
    index: &EndpointIndex,
    pos: usize,
    wanted: Option<u64>,
) -> Option<HeaderValue> {
    let entry = index.entries.get(pos)?;
    (wanted != Some(entry.sticky_id))
        .then(|| entry.cookie.clone())
        .flatten()
}

/// A copy of the request head (without extensions) for a later try.
pub(super) fn clone_head(parts: &Parts) -> Parts {
    let mut req = Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req.into_parts().0
}
