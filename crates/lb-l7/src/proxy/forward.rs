//! [`Forward`]: one request's trip to an upstream: pick a server (sticky
//! cookie first), send under the route timeout, and retry on a server not
//! tried yet while the policy, the budget and the request body allow.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use http::header::HOST;
use http::{HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use lb_balance::{Endpoint, InFlight, PickRequest};
use lb_health::passive::FailureKind;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::record::Completion;
use super::relay::{self, clone_head};
use super::{key, local, upgrade, MAX_TRIES};
use crate::body::{ProxyBody, SendBody};
use crate::error::ProxyError;
use crate::route::Route;
use crate::server::ConnInfo;
use crate::upstream::index::EndpointIndex;
use crate::upstream::pool::{Lease, SendError, ServerPool};
use crate::upstream::Upstream;

/// Why one try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TryFailure {
    Connect,
    Reset,
    Timeout,
}

impl TryFailure {
    pub(super) fn kind(self) -> FailureKind {
        match self {
            TryFailure::Connect => FailureKind::ConnectError,
            TryFailure::Reset => FailureKind::Reset,
            TryFailure::Timeout => FailureKind::Timeout,
        }
    }
}

pub(crate) struct Forward<'a> {
    pub(crate) up: &'a Arc<Upstream>,
    pub(crate) route: &'a Route,
    pub(crate) info: ConnInfo,
    pub(crate) tls: bool,
}

/// Where a request stands across its tries.
pub(super) struct Tries {
    /// Tries allowed, first included.
    pub(super) max: usize,
    /// Endpoint uids tried so far (`tried[..n]`).
    pub(super) tried: [u64; MAX_TRIES],
    pub(super) n: usize,
    /// A server already picked (after a 5xx answer was dropped for it).
    pub(super) next: Option<(usize, Endpoint<SocketAddr>)>,
    /// The error to answer if no further server can be tried.
    pub(super) last: Option<ProxyError>,
}

impl Tries {
    /// Tries as `policy` allows them.
    pub(super) fn new(policy: &crate::options::RetryPolicy) -> Self {
        let may_retry = policy.on_connect_failure || policy.on_reset || policy.on_timeout;
        Self {
            max: if may_retry || policy.on_5xx {
                1 + (policy.attempts as usize).min(MAX_TRIES - 1)
            } else {
                1
            },
            tried: [0; MAX_TRIES],
            n: 0,
            next: None,
            last: None,
        }
    }

    pub(super) fn more(&self) -> bool {
        self.n < self.max
    }
}

impl Forward<'_> {
    pub(super) async fn run(
        &self,
        req: Request<Incoming>,
        mut done: Completion,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = req.into_parts();
        let Some(path) = parts.uri.path_and_query().cloned() else {
            return local(
                &ProxyError::BadRequest("no path (CONNECT is not proxied)"),
                done,
            );
        };
        let opts = self.up.options();
        let policy = opts.retry;

        // Balancing inputs come from the request as the client sent it.
        let key = if self.up.balancer().algorithm().uses_key() {
            key::hash_of(&opts.hash_key, &parts, self.info.client.ip())
        } else {
            None
        };
        let sticky = opts
            .sticky
            .as_ref()
            .map(|s| key::cookie(&parts, &s.cookie).and_then(key::parse_sticky));

        let upgrade = upgrade::take_client_upgrade(&mut parts);
        self.rewrite_request(&mut parts, upgrade.as_ref());

        let mut body = (!hyper::body::Body::is_end_stream(&body)).then_some(body);
        let has_body = body.is_some();
        // Counted only when there is a body to count (no allocation else).
        let bytes_in = match done.record.as_mut() {
            Some(r) if has_body => Some(Arc::clone(
                r.bytes_in
                    .get_or_insert_with(|| Arc::new(AtomicU64::new(0))),
            )),
            _ => None,
        };
        let may_retry = policy.on_connect_failure || policy.on_reset || policy.on_timeout;
        let mut tries = Tries::new(&policy);
        let start = Instant::now();
        let mut head = Some(parts);
        self.up.budget().deposit();

        while tries.more() {
            let index = self.up.index();
            let Some((pos, ep)) = self.start_try(&index, &mut tries, sticky, key) else {
                break;
            };
            let more = tries.more();

            // The head is cloned only while another try may follow.
            let req_head = if more {
                head.as_ref().map(clone_head)
            } else {
                head.take()
            };
            let mut giveback = None;
            let send_body = match body.take() {
                None if has_body => break, // the body was consumed: no further try
                None => SendBody::empty(),
                Some(b) => {
                    let tx = (more && may_retry).then(|| {
                        let (tx, rx) = oneshot::channel();
                        giveback = Some(rx);
                        tx
                    });
                    SendBody::new(b, tx, bytes_in.clone())
                }
            };
            let Some(req_head) = req_head else { break };
            let mut out = Request::from_parts(req_head, send_body);
            // HTTP/1.1 goes over our pool in origin form; HTTP/2 over
            // hyper-util's client, which wants the server in the URI.
            let pool = match (self.up.http1(), index.entries.get(pos)) {
                (Some(_), Some(entry)) => {
                    *out.uri_mut() = Uri::from(path.clone());
                    if !out.headers().contains_key(HOST) {
                        if let Ok(host) = HeaderValue::from_str(entry.authority.as_str()) {
                            out.headers_mut().insert(HOST, host);
                        }
                    }
                    Some(&entry.pool)
                }
                _ => {
                    *out.uri_mut() = self.server_uri(&index, pos, &ep, path.clone());
                    None
                }
            };

            let guard = ep.state().start();
            let sent = self.send(out, pool, start).await;
            if let Some(mut rx) = giveback {
                // Back only if none of it was sent.
                body = rx.try_recv().ok();
            }
            match sent {
                Ok((resp, lease)) => {
                    let guard =
                        if resp.status().is_server_error() && policy.on_5xx && more && !has_body {
                            match self.retry_after_5xx(
                                &ep,
                                guard,
                                resp.status(),
                                key,
                                &index,
                                &mut tries,
                            ) {
                                Some(guard) => guard,
                                None => continue,
                            }
                        } else {
                            guard
                        };
                    let cookie =
                        sticky.and_then(|wanted| relay::sticky_cookie(&index, pos, wanted));
                    done.lease = lease;
                    return self.relay(resp, &ep, guard, upgrade, cookie, done);
                }
                Err((failure, err)) => {
                    let body_ok = !has_body || body.is_some();
                    if let Err(err) =
                        self.after_failure(&ep, guard, failure, err, more && body_ok, &mut tries)
                    {
                        return local(&err, done);
                    }
                }
            }
        }
        let err = tries.last.take().unwrap_or(ProxyError::NoServer);
        local(&err, done)
    }

    /// After a 5xx answer from `ep`, when the policy retries those: if
    /// another server can be picked within the budget, report the failure,
    /// end `guard` and schedule that server (`None`: the caller drops the
    /// answer and tries again); else give `guard` back to relay the answer.
    pub(super) fn retry_after_5xx(
        &self,
        ep: &Endpoint<SocketAddr>,
        guard: InFlight,
        status: http::StatusCode,
        key: Option<u64>,
        index: &EndpointIndex,
        tries: &mut Tries,
    ) -> Option<InFlight> {
        let other = self.up.balancer().pick(&PickRequest {
            key,
            exclude: &tries.tried[..tries.n],
        });
        let Some(other) = other.filter(|_| self.up.budget().withdraw()) else {
            return Some(guard);
        };
        tracing::debug!(server = %ep.id(), %status, "retrying after 5xx");
        self.up.observe(ep.state(), Some(FailureKind::Status5xx));
        guard.finish();
        self.up.count_retry();
        tries.next = Some((index.position(&other).unwrap_or(usize::MAX), other));
        None
    }

    /// After a failed try on `ep`: report it, end `guard`, and say whether
    /// another try follows (`Err` carries the answer when not). `may_retry`
    /// is whether the request allows one (tries left, body not consumed).
    pub(super) fn after_failure(
        &self,
        ep: &Endpoint<SocketAddr>,
        guard: InFlight,
        failure: TryFailure,
        err: ProxyError,
        may_retry: bool,
        tries: &mut Tries,
    ) -> Result<(), ProxyError> {
        tracing::debug!(server = %ep.id(), error = %err, ?failure, "try failed");
        self.up.observe(ep.state(), Some(failure.kind()));
        if failure == TryFailure::Timeout {
            guard.finish();
        } else {
            guard.finish_without_latency();
        }
        let policy = &self.up.options().retry;
        let allowed = match failure {
            TryFailure::Connect => policy.on_connect_failure,
            TryFailure::Reset => policy.on_reset,
            TryFailure::Timeout => policy.on_timeout,
        };
        if !(allowed && may_retry && self.up.budget().withdraw()) {
            return Err(err);
        }
        tracing::debug!(attempt = tries.n, ?failure, "retrying on another server");
        self.up.count_retry();
        tries.last = Some(err);
        Ok(())
    }

    /// The server for the next try (the sticky one only on the first),
    /// counted as tried.
    pub(super) fn start_try(
        &self,
        index: &EndpointIndex,
        tries: &mut Tries,
        sticky: Option<Option<u64>>,
        key: Option<u64>,
    ) -> Option<(usize, Endpoint<SocketAddr>)> {
        let sticky_id = if tries.n == 0 { sticky.flatten() } else { None };
        let (pos, ep) = self.pick(index, tries, sticky_id, key)?;
        tries.tried[tries.n] = ep.state().uid();
        tries.n += 1;
        Some((pos, ep))
    }

    /// The server for the next try: one already chosen, else the sticky
    /// server if available, else the balancer's pick among those not tried.
    fn pick(
        &self,
        index: &EndpointIndex,
        tries: &mut Tries,
        sticky_id: Option<u64>,
        key: Option<u64>,
    ) -> Option<(usize, Endpoint<SocketAddr>)> {
        if let Some(next) = tries.next.take() {
            return Some(next);
        }
        let sticky = sticky_id
            .and_then(|id| index.by_sticky_id(id))
            .filter(|(_, e)| {
                e.state().is_available() && !tries.tried[..tries.n].contains(&e.state().uid())
            });
        if let Some((pos, ep)) = sticky {
            return Some((pos, ep.clone()));
        }
        let ep = self.up.balancer().pick(&PickRequest {
            key,
            exclude: &tries.tried[..tries.n],
        })?;
        Some((index.position(&ep).unwrap_or(usize::MAX), ep))
    }

    /// One try, under the route timeout: over the server's HTTP/1.1 `pool`,
    /// or hyper-util's client (HTTP/2).
    async fn send(
        &self,
        req: Request<SendBody>,
        pool: Option<&Arc<ServerPool>>,
        start: Instant,
    ) -> Result<(Response<Incoming>, Option<Lease>), (TryFailure, ProxyError)> {
        let fut = async {
            match (self.up.http1(), pool) {
                (Some(client), Some(pool)) => match client.send(pool, req).await {
                    Ok((resp, lease)) => Ok((resp, Some(lease))),
                    Err(SendError::Connect(e)) => {
                        Err((TryFailure::Connect, ProxyError::Unreachable(Box::new(e))))
                    }
                    Err(SendError::Reset(e)) => Err((TryFailure::Reset, ProxyError::Reset(e))),
                },
                _ => match self.up.client().request(req).await {
                    Ok(resp) => Ok((resp, None)),
                    Err(e) if e.is_connect() => {
                        Err((TryFailure::Connect, ProxyError::Unreachable(e.into())))
                    }
                    Err(e) => Err((TryFailure::Reset, ProxyError::Reset(e.into()))),
                },
            }
        };
        self.timed(start, fut).await
    }

    /// `fut` (one try) under the route timeout: with timeout retries each
    /// try gets the whole timeout; otherwise it bounds the request from its
    /// first try (`start`).
    pub(super) async fn timed<T>(
        &self,
        start: Instant,
        fut: impl std::future::Future<Output = Result<T, (TryFailure, ProxyError)>>,
    ) -> Result<T, (TryFailure, ProxyError)> {
        let Some(limit) = self.route.timeout() else {
            return fut.await;
        };
        let deadline = if self.up.options().retry.on_timeout {
            Instant::now() + limit
        } else {
            start + limit
        };
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(res) => res,
            Err(_) => Err((TryFailure::Timeout, ProxyError::Timeout)),
        }
    }
}
