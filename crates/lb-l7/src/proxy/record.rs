//! [`Completion`]: everything that must happen once when a request is
//! over, carried by the response body (see [`ProxyBody`](crate::ProxyBody)).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use http::{HeaderValue, Method, Uri};
use lb_balance::{EndpointId, InFlight};
use lb_health::passive::FailureKind;
use tokio::time::Instant;

use crate::observe::{Observer, RequestRecord};
use crate::server::ConnState;
use crate::upstream::pool::Lease;
use crate::upstream::Upstream;

/// What the observer needs, kept only when there is an observer.
pub(crate) struct RecordCtx {
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) listener: Arc<str>,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) host: Option<HeaderValue>,
    pub(crate) client: SocketAddr,
    pub(crate) start: Instant,
    /// Request body bytes, shared with the body sent upstream; only made
    /// when the request has a body.
    pub(crate) bytes_in: Option<Arc<AtomicU64>>,
}

/// The end-of-request bookkeeping.
pub(crate) struct Completion {
    pub(crate) conn: Option<Arc<ConnState>>,
    pub(crate) record: Option<Box<RecordCtx>>,
    pub(crate) route: Option<usize>,
    pub(crate) upstream: Option<Arc<Upstream>>,
    pub(crate) server: Option<EndpointId>,
    /// Present while a server's response is being relayed: ends the
    /// in-flight count and reports the outcome to passive health.
    pub(crate) guard: Option<InFlight>,
    /// The HTTP/1.1 connection the response comes over: back to its pool
    /// when the response has ended well.
    pub(crate) lease: Option<Lease>,
    pub(crate) status: u16,
    pub(crate) bytes_out: u64,
}

impl Completion {
    pub(crate) fn new(conn: Option<Arc<ConnState>>, record: Option<Box<RecordCtx>>) -> Self {
        Self {
            conn,
            record,
            route: None,
            upstream: None,
            server: None,
            guard: None,
            lease: None,
            // nginx's "client closed request", kept if no response is made.
            status: 499,
            bytes_out: 0,
        }
    }

    /// The request is over; `failure` if the response body broke.
    pub(crate) fn complete(mut self, failure: Option<FailureKind>) {
        self.run(failure);
    }

    fn run(&mut self, failure: Option<FailureKind>) {
        if let Some(lease) = self.lease.take() {
            if failure.is_none() {
                lease.release();
            }
        }
        if let Some(guard) = self.guard.take() {
            let failure = failure.or((self.status >= 500).then_some(FailureKind::Status5xx));
            if let (Some(up), Some(state)) = (&self.upstream, guard.state()) {
                up.observe(state, failure);
            }
            guard.finish();
        }
        if let Some(rec) = self.record.take() {
            let host = rec
                .host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .or_else(|| rec.uri.authority().map(|a| a.as_str()))
                .unwrap_or("");
            rec.observer.on_request(&RequestRecord {
                listener: &rec.listener,
                route: self.route,
                upstream: self.upstream.as_ref().map(|u| u.name()),
                server: self.server.as_deref(),
                status: self.status,
                method: &rec.method,
                host,
                path: rec.uri.path(),
                client: rec.client,
                duration: rec.start.elapsed(),
                bytes_in: rec.bytes_in.as_ref().map_or(0, |n| n.load(Relaxed)),
                bytes_out: self.bytes_out,
            });
        }
        if let Some(conn) = self.conn.take() {
            conn.request_done();
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.run(None);
    }
}
