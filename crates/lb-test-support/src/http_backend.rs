//! A real HTTP/1.1 + h2c backend with a few useful routes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, hyper::Error>;

#[derive(Debug)]
struct Inner {
    name: String,
    requests: AtomicU64,
    healthy: AtomicBool,
    status: AtomicU16,
}

/// A real HTTP backend on `127.0.0.1:0`, speaking HTTP/1.1 and h2c.
///
/// Routes: `GET /` → body = name (status from [`set_status`](Self::set_status));
/// `/health` → 200 or 503; `/status/{code}`; `/echo` streams the request
/// body back; `/headers` → JSON of the request headers; `/delay/{ms}` waits
/// then answers. Every response carries `x-backend: <name>`.
#[derive(Debug)]
pub struct HttpBackend {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpBackend {
    /// Start a backend named `name`.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        Self::serve(name, listener)
    }

    /// Start a backend on an already bound listener (e.g. to come back on
    /// the same port after being stopped).
    ///
    /// # Panics
    /// If the listener has no local address.
    pub fn serve(name: &str, listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let inner = Arc::new(Inner {
            name: name.to_owned(),
            requests: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            status: AtomicU16::new(200),
        });
        let state = Arc::clone(&inner);
        let task = tokio::spawn(async move {
            // Connections live in this set: aborting the accept task drops
            // it, which aborts every connection too (a stopped backend must
            // not go on serving pooled keep-alive connections).
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req| handle(Arc::clone(&state), req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, inner, task }
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name (the body of `GET /`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Requests served so far (all routes but `/health`).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Relaxed)
    }

    /// Make `/health` answer 200 (true) or 503 (false).
    pub fn set_healthy(&self, healthy: bool) {
        self.inner.healthy.store(healthy, Relaxed);
    }

    /// The status `GET /` answers with (default 200).
    pub fn set_status(&self, status: u16) {
        self.inner.status.store(status, Relaxed);
    }

    /// Stop: stop accepting and close every established connection.
    pub fn stop(self) {}
}

fn full(status: StatusCode, name: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(name) {
        resp.headers_mut().insert("x-backend", v);
    }
    resp
}

async fn handle(state: Arc<Inner>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let name = state.name.as_str();
    if path == "/health" {
        let ok = state.healthy.load(Relaxed);
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Ok(full(status, name, if ok { "ok" } else { "down" }));
    }
    state.requests.fetch_add(1, Relaxed);
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
        return Ok(full(
            status.unwrap_or(StatusCode::BAD_REQUEST),
            name,
            name.to_owned(),
        ));
    }
    if let Some(ms) = path.strip_prefix("/delay/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Ok(full(StatusCode::OK, name, name.to_owned()));
    }
    match path.as_str() {
        "/echo" => {
            let mut resp = Response::new(req.into_body().boxed());
            if let Ok(v) = http::HeaderValue::from_str(name) {
                resp.headers_mut().insert("x-backend", v);
            }
            Ok(resp)
        }
        "/headers" => {
            let mut out = String::from("{");
            for (i, (k, v)) in req.headers().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let v = String::from_utf8_lossy(v.as_bytes())
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"");
                out.push_str(&format!("\"{k}\":\"{v}\""));
            }
            out.push('}');
            Ok(full(StatusCode::OK, name, out))
        }
        _ => {
            let status = StatusCode::from_u16(state.status.load(Relaxed)).unwrap_or(StatusCode::OK);
            Ok(full(status, name, name.to_owned()))
        }
    }
}
