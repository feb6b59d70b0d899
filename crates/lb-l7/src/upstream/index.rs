//! Per-server values the request path needs, computed once per endpoint
//! snapshot instead of once per request: the URI authority (`ip:port`), the
//! sticky id and its ready-made `Set-Cookie` value, and the server's
//! HTTP/1.1 connection pool (carried over to the next index while the
//! server keeps its state and address).
//!
//! The index remembers the [`Snapshot`] it was built from; when the
//! balancer publishes a new one (reload, DNS) the next request rebuilds it.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::uri::Authority;
use http::HeaderValue;
use lb_balance::hash::hash_key;
use lb_balance::{Endpoint, Snapshot};

use super::pool::ServerPool;
use crate::options::StickyOptions;

/// Derived values for one server.
#[derive(Debug)]
pub(crate) struct Entry {
    /// `ip:port` for the request URI (the pool key).
    pub(crate) authority: Authority,
    /// The opaque sticky id: the seedless hash of the endpoint id.
    pub(crate) sticky_id: u64,
    /// `Set-Cookie` naming this server, when the upstream is sticky.
    pub(crate) cookie: Option<HeaderValue>,
    /// Idle HTTP/1.1 connections to this server.
    pub(crate) pool: Arc<ServerPool>,
}

/// [`Entry`]s in snapshot order.
#[derive(Debug)]
pub(crate) struct EndpointIndex {
    pub(crate) snapshot: Arc<Snapshot<SocketAddr>>,
    pub(crate) entries: Box<[Entry]>,
}

impl EndpointIndex {
    /// The index of `snapshot`; servers that were in `previous` (same state,
    /// same address) keep their connection pool.
    pub(crate) fn build(
        snapshot: Arc<Snapshot<SocketAddr>>,
        sticky: Option<&StickyOptions>,
        max_in_flight: u32,
        previous: Option<&EndpointIndex>,
    ) -> Self {
        let entries = snapshot
            .endpoints()
            .iter()
            .map(|e| {
                e.state().set_max_in_flight(max_in_flight);
                let sticky_id = sticky_id(e);
                let pool = previous
                    .and_then(|p| p.pool_of(e))
                    .unwrap_or_else(|| Arc::new(ServerPool::new(*e.value())));
                Entry {
                    authority: authority(*e.value()),
                    sticky_id,
                    cookie: sticky.and_then(|s| cookie_value(s, sticky_id)),
                    pool,
                }
            })
            .collect();
        Self { snapshot, entries }
    }

    /// The position of `endpoint` in this snapshot (by shared state).
    pub(crate) fn position(&self, endpoint: &Endpoint<SocketAddr>) -> Option<usize> {
        self.snapshot
            .endpoints()
            .iter()
            .position(|e| Arc::ptr_eq(e.state(), endpoint.state()))
    }

    /// The pool of `endpoint` in this index, if it is here with the same
    /// address.
    fn pool_of(&self, endpoint: &Endpoint<SocketAddr>) -> Option<Arc<ServerPool>> {
        let entry = self.entries.get(self.position(endpoint)?)?;
        (entry.pool.addr() == *endpoint.value()).then(|| Arc::clone(&entry.pool))
    }

    /// The endpoint a sticky id names.
    pub(crate) fn by_sticky_id(&self, id: u64) -> Option<(usize, &Endpoint<SocketAddr>)> {
        let i = self.entries.iter().position(|e| e.sticky_id == id)?;
        Some((i, self.snapshot.endpoints().get(i)?))
    }
}

/// The opaque id of a server in sticky cookies.
pub(crate) fn sticky_id(endpoint: &Endpoint<SocketAddr>) -> u64 {
    hash_key(endpoint.id().as_bytes())
}

/// `ip:port` as a URI authority (IPv6 in brackets).
pub(crate) fn authority(addr: SocketAddr) -> Authority {
    // A SocketAddr always formats as a valid authority.
    Authority::from_maybe_shared(Bytes::from(addr.to_string()))
        .unwrap_or_else(|_| Authority::from_static("invalid"))
}

fn cookie_value(sticky: &StickyOptions, id: u64) -> Option<HeaderValue> {
    let mut v = format!("{}={id:016x}; Path=/; HttpOnly", sticky.cookie);
    if !sticky.max_age.is_zero() {
        v.push_str(&format!("; Max-Age={}", sticky.max_age.as_secs()));
    }
    HeaderValue::from_maybe_shared(Bytes::from(v)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cookie_names_the_server_opaquely() {
        let e = Endpoint::new("10.0.0.1:80", "10.0.0.1:80".parse::<SocketAddr>().unwrap());
        let s = StickyOptions::new("lb_srv", Duration::from_secs(3600));
        let v = cookie_value(&s, sticky_id(&e)).unwrap();
        let v = v.to_str().unwrap();
        assert!(v.starts_with("lb_srv="), "{v}");
        assert!(v.ends_with("; Max-Age=3600"), "{v}");
        assert!(!v.contains("10.0.0.1"), "{v}");
    }

    #[test]
    fn ipv6_authority_has_brackets() {
        let a = authority("[::1]:8080".parse().unwrap());
        assert_eq!(a.as_str(), "[::1]:8080");
    }
}
