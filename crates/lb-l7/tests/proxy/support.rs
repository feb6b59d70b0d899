//! Helpers for the proxy tests: an in-process listener with its own accept
//! loop, upstream and routing builders, small HTTP clients and custom
//! backends. Everything runs over real loopback sockets.

// Not every test binary uses every helper.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use lb_balance::{Algorithm, Balancer, Endpoint};
use lb_l7::route::{RouteSpec, RouteTable, Target};
use lb_l7::{
    ConnInfo, HttpListener, ListenerOptions, Observer, Routing, Upstream, UpstreamOptions,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) type TestBody = BoxBody<Bytes, hyper::Error>;

/// A listener served in-process on `127.0.0.1:0`.
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    pub(crate) listener: Arc<HttpListener>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.task.abort();
    }
}

impl Proxy {
    pub(crate) async fn start(opts: ListenerOptions, routing: Arc<Routing>) -> Self {
        Self::start_with(opts, routing, None).await
    }

    pub(crate) async fn start_with(
        opts: ListenerOptions,
        routing: Arc<Routing>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Self {
        lb_test_support::trace_init();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = Arc::new(HttpListener::new("web".into(), opts, routing, observer));
        let shutdown = CancellationToken::new();
        let (l, token) = (Arc::clone(&listener), shutdown.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().unwrap();
                let (l, token) = (Arc::clone(&l), token.child_token());
                tokio::spawn(async move {
                    l.serve_connection(stream, ConnInfo::new(peer, local), token)
                        .await;
                });
            }
        });
        Self {
            addr,
            listener,
            shutdown,
            task,
        }
    }

    /// Begin graceful shutdown of every connection.
    pub(crate) fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

/// A round-robin upstream over `servers`.
pub(crate) fn upstream(name: &str, servers: &[SocketAddr], opts: UpstreamOptions) -> Arc<Upstream> {
    let eps = servers
        .iter()
        .map(|a| Endpoint::new(a.to_string(), *a))
        .collect();
    let balancer = Arc::new(Balancer::new(Algorithm::RoundRobin, eps));
    Arc::new(Upstream::new(name.into(), balancer, opts, None))
}

/// A route sending everything to `upstream`.
pub(crate) fn to(upstream: &str) -> RouteSpec {
    RouteSpec::new(Target::Upstream(upstream.into()))
}

pub(crate) fn routing(routes: Vec<RouteSpec>, upstreams: &[&Arc<Upstream>]) -> Arc<Routing> {
    let table = RouteTable::new(routes).unwrap();
    let ups = upstreams
        .iter()
        .map(|u| (u.name().to_owned(), Arc::clone(u)))
        .collect();
    Arc::new(Routing::new(table, ups))
}

/// An address nothing listens on (bound, then closed).
pub(crate) async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

pub(crate) fn empty() -> TestBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn full(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// One HTTP/1.1 client connection.
pub(crate) struct H1 {
    sender: hyper::client::conn::http1::SendRequest<TestBody>,
}

impl H1 {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn.with_upgrades());
        Self { sender }
    }

    pub(crate) async fn send(&mut self, req: Request<TestBody>) -> Response<Bytes> {
        self.sender.ready().await.unwrap();
        let resp = self.sender.send_request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Response::from_parts(parts, body)
    }

    pub(crate) async fn get(&mut self, path: &str) -> Response<Bytes> {
        let req = Request::get(path)
            .header("host", "example.com")
            .body(empty())
            .unwrap();
        self.send(req).await
    }
}

/// GET `path` on a fresh connection.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Response<Bytes> {
    H1::connect(addr).await.get(path).await
}

/// One HTTP/2 client connection (h2c prior knowledge).
pub(crate) async fn h2c(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<TestBody> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

pub(crate) fn backend_name(resp: &Response<Bytes>) -> &str {
    resp.headers()
        .get("x-backend")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A backend answering with `handler`, speaking HTTP/1.1 (with upgrades) and
/// h2c; counts the TCP connections it accepted. Dropping it closes its
/// established connections too (a dead server, not just a closed port).
pub(crate) struct FnBackend {
    pub(crate) addr: SocketAddr,
    pub(crate) connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for FnBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FnBackend {
    pub(crate) async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            // Connections live in the set: dropping the backend aborts them.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = tcp.accept().await else {
                    continue;
                };
                count.fetch_add(1, Relaxed);
                let handler = handler.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            connections,
            task,
        }
    }

    pub(crate) fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }
}

impl FnBackend {
    /// As [`start`](Self::start), behind TLS with `config`.
    pub(crate) async fn start_tls<F, Fut>(handler: F, config: Arc<rustls::ServerConfig>) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&connections);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = tcp.accept().await else {
                    continue;
                };
                count.fetch_add(1, Relaxed);
                let (handler, acceptor) = (handler.clone(), acceptor.clone());
                conns.spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            connections,
            task,
        }
    }
}

/// A test CA and leaf certificates it signed, as PEM files in a fresh
/// temporary directory.
pub(crate) struct TestPki {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) ca_pem: std::path::PathBuf,
    pub(crate) ca_der: rustls_pki_types::CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestPki {
    pub(crate) fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lb-l7-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, cert.pem()).unwrap();
        Self {
            dir,
            ca_pem,
            ca_der: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names`; returns (cert path, key path, DER).
    pub(crate) fn leaf(
        &self,
        file: &str,
        names: &[&str],
    ) -> (
        std::path::PathBuf,
        std::path::PathBuf,
        rustls_pki_types::CertificateDer<'static>,
    ) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k, cert.der().clone())
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A backend answering every request with its `name` in the body and in
/// `x-backend`.
pub(crate) async fn named_backend(name: &'static str) -> FnBackend {
    FnBackend::start(move |_req| async move {
        Response::builder()
            .header("x-backend", name)
            .body(full(name))
            .unwrap()
    })
    .await
}
