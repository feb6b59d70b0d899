//! The HTTP/1.1 fast path's trip to a server (see `crate::h1`): the same
//! choices as [`Forward::run`] — sticky server, balancer pick, retries under
//! the policy and the budget, the route timeout, passive health — for a
//! request without a body or with a small one read whole, written straight onto a pooled plain-TCP
//! connection and answered by a response head read straight off it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::forward::{Forward, Tries, TryFailure};
use super::record::Completion;
use super::{key, relay};
use super::{NotSelected, Selected};
use crate::error::ProxyError;
use crate::h1::head::{self, BadResponse, ResponseHead};
use crate::headers::strip_hop_by_hop;
use crate::routing::Routing;
use crate::upstream::pool::{RawConn, ServerPool};

/// Size of a server connection's read buffer.
const READ_BUF: usize = 16 * 1024;

/// Largest response head accepted from a server (hyper's client stops near
/// 400 KiB); beyond it the answer is 502.
const MAX_RESPONSE_HEAD: usize = 256 * 1024;

/// What the fast path answers.
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per request, inside the boxed request future"
)]
pub(crate) enum Reply {
    /// A locally made answer (404, 502, 503, 504).
    Local(ProxyError),
    /// A server's response: its head, rewritten for the client, and the
    /// connection its body comes over.
    Server(ServerReply),
}

/// The fields of the client's response head.
pub(crate) enum Fields {
    /// The server's end-to-end fields as they came, plus a sticky cookie:
    /// no map is built (routes without response rewrites).
    Raw(Option<HeaderValue>),
    /// Rewritten by the route.
    Map(HeaderMap),
}

/// A server's response on its way to the client.
pub(crate) struct ServerReply {
    pub(crate) head: ResponseHead,
    pub(crate) fields: Fields,
    /// The body's first bytes may already be in `conn.buf`.
    pub(crate) conn: RawConn,
    /// Where `conn` goes back when the response ended well.
    pub(crate) pool: Arc<ServerPool>,
    pub(crate) max_idle: Duration,
}

/// The route and upstream of a fast-path request ([`super::select`]);
/// `Ok(None)` when the upstream needs the hyper path (HTTP/2 or TLS to the
/// servers).
pub(crate) fn route_fast<'r>(
    routing: &'r Routing,
    parts: &Parts,
) -> Result<Option<Selected<'r>>, NotSelected<'r>> {
    let (route, up) = super::select(routing, &parts.method, &parts.uri, &parts.headers)?;
    Ok(up
        .http1()
        .is_some_and(|c| c.is_plain())
        .then_some((route, up)))
}

/// Why one exchange on a connection failed.
enum ExchangeError {
    /// A reused connection was closed by the server before answering: the
    /// request can go again on another connection.
    Stale,
    /// The connection failed, or the answer was invalid.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl From<BadResponse> for ExchangeError {
    fn from(e: BadResponse) -> Self {
        ExchangeError::Failed(Box::new(e))
    }
}

/// Write `req` on `conn` and read the response head.
async fn exchange(
    conn: &mut RawConn,
    req: &[u8],
    head_request: bool,
    reused: bool,
) -> Result<ResponseHead, ExchangeError> {
    if let Err(e) = conn.io.write_all(req).await {
        return Err(if reused {
            ExchangeError::Stale
        } else {
            ExchangeError::Failed(Box::new(e))
        });
    }
    let mut got_any = false;
    loop {
        if !conn.buf.is_empty() {
            if let Some(head) = head::parse_response(&mut conn.buf, head_request)? {
                return Ok(head);
            }
        }
        if conn.buf.len() >= MAX_RESPONSE_HEAD {
            return Err(BadResponse("response head too large").into());
        }
        if conn.buf.capacity() - conn.buf.len() < 1024 {
            conn.buf.reserve(READ_BUF.max(conn.buf.len()));
        }
        match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) | Err(_) if reused && !got_any => return Err(ExchangeError::Stale),
            Ok(0) => {
                return Err(ExchangeError::Failed(
                    "server closed the connection before the response head".into(),
                ))
            }
            Ok(_) => got_any = true,
            Err(e) => return Err(ExchangeError::Failed(Box::new(e))),
        }
    }
}

impl Forward<'_> {
    /// Send the bodiless request `parts` to a server of the upstream and
    /// return its response head (rewritten for the client), or the local
    /// answer. `done` gets the server, the status and the in-flight guard.
    pub(crate) async fn run_fast(
        &self,
        mut parts: Parts,
        body: Bytes,
        done: &mut Completion,
    ) -> Reply {
        let opts = self.up.options();
        let policy = opts.retry;
        let head_request = parts.method == Method::HEAD;
        let key = if self.up.balancer().algorithm().uses_key() {
            key::hash_of(&opts.hash_key, &parts, self.info.client.ip())
        } else {
            None
        };
        let sticky = opts
            .sticky
            .as_ref()
            .map(|s| key::cookie(&parts, &s.cookie).and_then(key::parse_sticky));
        self.rewrite_request(&mut parts, None);
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Vec::with_capacity(512 + body.len());
        head::write_request(&mut req, &parts.method, path, &parts.headers);
        let has_host = parts.headers.contains_key(HOST);
        if has_host {
            req.extend_from_slice(b"\r\n");
            req.extend_from_slice(&body);
        }
        let req = Bytes::from(req);
        let has_body = !body.is_empty();

        let mut tries = Tries::new(&policy);
        let start = Instant::now();
        self.up.budget().deposit();
        while tries.more() {
            let index = self.up.index();
            let Some((pos, ep)) = self.start_try(&index, &mut tries, sticky, key) else {
                break;
            };
            let more = tries.more();
            let Some(entry) = index.entries.get(pos) else {
                break;
            };
            // Without a Host from the client, the server's address is it.
            let with_host;
            let bytes: &[u8] = if has_host {
                &req
            } else {
                let mut v = Vec::with_capacity(req.len() + 64);
                v.extend_from_slice(&req);
                v.extend_from_slice(b"host: ");
                v.extend_from_slice(entry.authority.as_str().as_bytes());
                v.extend_from_slice(b"\r\n\r\n");
                v.extend_from_slice(&body);
                with_host = v;
                &with_host
            };

            let guard = ep.state().start();
            match self.try_fast(bytes, &entry.pool, head_request, start).await {
                Ok((resp, conn)) => {
                    // A 5xx answer dropped for a retry leaves its body unread
                    // on `conn`, which is then not reused (dropped).
                    let guard = if resp.status.is_server_error()
                        && policy.on_5xx
                        && more
                        && !has_body
                    {
                        match self.retry_after_5xx(&ep, guard, resp.status, key, &index, &mut tries)
                        {
                            Some(guard) => guard,
                            None => continue,
                        }
                    } else {
                        guard
                    };
                    let cookie =
                        sticky.and_then(|wanted| relay::sticky_cookie(&index, pos, wanted));
                    let rewrite = self.route.response_headers();
                    let fields = if rewrite.is_empty() {
                        Fields::Raw(cookie)
                    } else {
                        // Valid when parsed a moment ago: never `None`.
                        let mut map = head::response_fields(&resp.raw).unwrap_or_default();
                        strip_hop_by_hop(&mut map);
                        rewrite.apply(&mut map);
                        if let Some(cookie) = cookie {
                            map.append(SET_COOKIE, cookie);
                        }
                        Fields::Map(map)
                    };
                    done.server = Some(Arc::clone(ep.id()));
                    done.status = resp.status.as_u16();
                    done.guard = Some(guard);
                    let max_idle = self.up.http1().map_or(Duration::ZERO, |c| c.max_idle());
                    return Reply::Server(ServerReply {
                        head: resp,
                        fields,
                        conn,
                        pool: Arc::clone(&entry.pool),
                        max_idle,
                    });
                }
                Err((failure, err)) => {
                    // As on the hyper path: a body that may have reached the
                    // server is not sent again; before a connection, it was not.
                    let body_ok = !has_body || failure == TryFailure::Connect;
                    if let Err(err) =
                        self.after_failure(&ep, guard, failure, err, more && body_ok, &mut tries)
                    {
                        return Reply::Local(err);
                    }
                }
            }
        }
        Reply::Local(tries.last.take().unwrap_or(ProxyError::NoServer))
    }

    /// One try on the server of `pool`, under the route timeout: over an
    /// idle connection if one is open (another one if it turns out closed),
    /// else over a new one.
    async fn try_fast(
        &self,
        req: &[u8],
        pool: &Arc<ServerPool>,
        head_request: bool,
        start: Instant,
    ) -> Result<(ResponseHead, RawConn), (TryFailure, ProxyError)> {
        let Some(client) = self.up.http1() else {
            return Err((TryFailure::Connect, ProxyError::UnknownUpstream));
        };
        let fut = async {
            let mut idle = pool.take_raw(client.max_idle());
            loop {
                let reused = idle.is_some();
                let mut conn = match idle.take() {
                    Some(conn) => conn,
                    None => client
                        .connect_raw(pool)
                        .await
                        .map_err(|e| (TryFailure::Connect, ProxyError::Unreachable(Box::new(e))))?,
                };
                match exchange(&mut conn, req, head_request, reused).await {
                    Ok(head) => return Ok((head, conn)),
                    Err(ExchangeError::Stale) => {
                        tracing::debug!("idle server connection was closed: another one");
                        idle = pool.take_raw(client.max_idle());
                    }
                    Err(ExchangeError::Failed(e)) => {
                        return Err((TryFailure::Reset, ProxyError::Reset(e)))
                    }
                }
            }
        };
        self.timed(start, fut).await
    }
}
