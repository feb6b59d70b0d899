//! [`Upstream`]: one named set of servers as the proxy sees it — the
//! balancer, a pooled keep-alive client, the retry budget, sticky cookies
//! and the passive outlier detector.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::uri::Scheme;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use lb_balance::Balancer;
use lb_health::passive::{FailureKind, Outcome, OutlierDetector};

use crate::body::SendBody;
use crate::options::{UpstreamOptions, UpstreamProtocol};

pub(crate) mod budget;
pub(crate) mod connector;
pub(crate) mod index;
pub(crate) mod pool;

use budget::RetryBudget;
use connector::Connector;
use index::EndpointIndex;
use pool::Http1Client;

/// One upstream: its servers (an `lb_balance::Balancer`), how to reach them
/// and the policies applied on the way.
///
/// Build one per configured upstream and keep it across reloads while the
/// upstream stays: its connection pools and retry budget live here.
pub struct Upstream {
    name: Arc<str>,
    balancer: Arc<Balancer<SocketAddr>>,
    opts: UpstreamOptions,
    scheme: Scheme,
    client: Client<Connector, SendBody>,
    http1: Http1Client,
    budget: RetryBudget,
    retries: AtomicU64,
    index: ArcSwap<EndpointIndex>,
    passive: Option<Arc<OutlierDetector<SocketAddr>>>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("balancer", &self.balancer)
            .field("protocol", &self.opts.protocol)
            .field("retries", &self.retries())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// An upstream named `name` over the servers of `balancer`.
    ///
    /// `passive` receives the outcome of every request sent to a server
    /// (success, 5xx, connect failure, reset, timeout); without it, failures
    /// are still counted in the server's `stats.failures`. Requests must be
    /// proxied inside a tokio runtime (the pool spawns connection tasks on
    /// it).
    #[must_use]
    pub fn new(
        name: Arc<str>,
        balancer: Arc<Balancer<SocketAddr>>,
        opts: UpstreamOptions,
        passive: Option<Arc<OutlierDetector<SocketAddr>>>,
    ) -> Self {
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(opts.pool_idle_timeout)
            .http2_only(opts.protocol == UpstreamProtocol::Http2);
        let connector = Connector::new(opts.connect_timeout, opts.tls.as_ref());
        let http1 = Http1Client::new(connector.clone(), opts.pool_idle_timeout);
        let client = builder.build(connector);
        let index = EndpointIndex::build(
            balancer.snapshot(),
            opts.sticky.as_ref(),
            opts.max_connections_per_server,
            None,
        );
        Self {
            scheme: if opts.tls.is_some() {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            },
            name,
            client,
            http1,
            budget: RetryBudget::new(opts.retry.budget),
            retries: AtomicU64::new(0),
            index: ArcSwap::from_pointee(index),
            balancer,
            opts,
            passive,
        }
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The servers and their balancing algorithm.
    #[must_use]
    pub fn balancer(&self) -> &Arc<Balancer<SocketAddr>> {
        &self.balancer
    }

    /// The options it was built with.
    #[must_use]
    pub fn options(&self) -> &UpstreamOptions {
        &self.opts
    }

    /// Retries made so far (for `lb_retries_total{upstream}`).
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.retries.load(Relaxed)
    }

    pub(crate) fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// hyper-util's client: HTTP/2 upstreams.
    pub(crate) fn client(&self) -> &Client<Connector, SendBody> {
        &self.client
    }

    /// The pooled HTTP/1.1 client, when the upstream speaks HTTP/1.1.
    pub(crate) fn http1(&self) -> Option<&Http1Client> {
        (self.opts.protocol == UpstreamProtocol::Http1).then_some(&self.http1)
    }

    pub(crate) fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    pub(crate) fn count_retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    /// The index for the balancer's current snapshot, rebuilt if the
    /// membership changed since the last request.
    pub(crate) fn index(&self) -> Arc<EndpointIndex> {
        let snapshot = self.balancer.snapshot();
        let current = self.index.load_full();
        if Arc::ptr_eq(&current.snapshot, &snapshot) {
            return current;
        }
        let fresh = Arc::new(EndpointIndex::build(
            snapshot,
            self.opts.sticky.as_ref(),
            self.opts.max_connections_per_server,
            Some(&current),
        ));
        self.index.store(Arc::clone(&fresh));
        fresh
    }

    /// Report the outcome of one request to a server.
    pub(crate) fn observe(
        &self,
        state: &Arc<lb_balance::EndpointState>,
        failure: Option<FailureKind>,
    ) {
        let outcome = match failure {
            None => Outcome::Success,
            Some(kind) => Outcome::Failure(kind),
        };
        match &self.passive {
            Some(detector) => detector.observe_state(state, outcome),
            None if failure.is_some() => state.record_failure(),
            None => {}
        }
    }
}
