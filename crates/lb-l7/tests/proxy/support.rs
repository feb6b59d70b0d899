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

/// One request a [`RawBackend`] read, and where.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Which accepted connection it came on (0 for the first).
    pub(crate) conn: u64,
    /// Which request on that connection it was (0 for the first).
    pub(crate) nth: u64,
    /// The head as received, final empty line included.
    pub(crate) head: String,
    /// The body (read by `Content-Length` or chunked framing), decoded.
    pub(crate) body: Vec<u8>,
}

impl Seen {
    /// The method of the request line.
    pub(crate) fn method(&self) -> &str {
        self.head.split(' ').next().unwrap_or("")
    }

    /// The target of the request line.
    pub(crate) fn path(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }

    /// Every value of the field `name` (any case), in order.
    pub(crate) fn header_all(&self, name: &str) -> Vec<&str> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The value of the field `name` (any case), if there is exactly one.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        match self.header_all(name)[..] {
            [v] => Some(v),
            [] => None,
            ref many => panic!("{name} sent {} times: {many:?}", many.len()),
        }
    }
}

/// What a [`RawBackend`] does in answer to one request, step by step.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Write these bytes, exactly.
    Write(Vec<u8>),
    /// Wait until the test notifies.
    Wait(Arc<tokio::sync::Notify>),
    /// Close the connection (after shutting down its write side).
    Close,
}

/// A scripted HTTP/1.1 server on raw TCP: reads each request head (and a
/// `Content-Length` or chunked body), records it, and does exactly what the
/// script says for it. Counts the connections it accepted; dropping it
/// closes them.
pub(crate) struct RawBackend {
    pub(crate) addr: SocketAddr,
    connections: Arc<AtomicU64>,
    seen: Arc<std::sync::Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawBackend {
    /// Serve every request with the steps `script` gives for it.
    pub(crate) async fn start<F>(script: F) -> Self
    where
        F: Fn(&Seen) -> Vec<Step> + Send + Sync + 'static,
    {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let (count, log) = (Arc::clone(&connections), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = tcp.accept().await else {
                    continue;
                };
                let conn = count.fetch_add(1, Relaxed);
                let (script, log) = (Arc::clone(&script), Arc::clone(&log));
                conns.spawn(raw_backend_conn(stream, conn, script, log));
            }
        });
        Self {
            addr,
            connections,
            seen,
            task,
        }
    }

    /// An answer with `Content-Length` to every request, its body the
    /// request's target.
    pub(crate) async fn echo_path() -> Self {
        Self::start(|seen| vec![Step::Write(ok_with_body(seen.path().as_bytes()))]).await
    }

    /// TCP connections accepted so far.
    pub(crate) fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }

    /// The requests read so far, in order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// `HTTP/1.1 200 OK` with `Content-Length` and `body`.
pub(crate) fn ok_with_body(body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// One connection of a [`RawBackend`].
async fn raw_backend_conn<F>(
    mut stream: TcpStream,
    conn: u64,
    script: Arc<F>,
    log: Arc<std::sync::Mutex<Vec<Seen>>>,
) where
    F: Fn(&Seen) -> Vec<Step> + Send + Sync + 'static,
{
    use tokio::io::AsyncWriteExt;

    let mut buf = Vec::new();
    for nth in 0.. {
        let Some(end) = fill_until(&mut stream, &mut buf, |b| {
            find(b, b"\r\n\r\n").map(|i| i + 4)
        })
        .await
        else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let mut seen = Seen {
            conn,
            nth,
            head,
            body: Vec::new(),
        };
        if seen
            .header_all("transfer-encoding")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("chunked"))
        {
            let Some(used) =
                fill_until(&mut stream, &mut buf, |b| dechunk(b).map(|d| d.used)).await
            else {
                return;
            };
            seen.body = dechunk(&buf).unwrap().body;
            buf.drain(..used);
        } else if let Some(len) = seen.header("content-length") {
            let len: usize = len.parse().unwrap();
            if fill_until(&mut stream, &mut buf, |b| (b.len() >= len).then_some(len))
                .await
                .is_none()
            {
                return;
            }
            seen.body = buf.drain(..len).collect();
        }
        log.lock().unwrap().push(seen.clone());
        for step in script(&seen) {
            match step {
                Step::Write(bytes) => {
                    if stream.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Step::Wait(gate) => gate.notified().await,
                Step::Close => {
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        }
    }
}

/// Read from `stream` into `buf` until `done` finds an end in it; `None` if
/// the stream ends first.
async fn fill_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    use tokio::io::AsyncReadExt;

    loop {
        if let Some(end) = done(buf) {
            return Some(end);
        }
        buf.reserve(16 * 1024);
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Where `needle` first occurs in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A chunked body decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dechunked {
    /// The chunk data, concatenated.
    pub(crate) body: Vec<u8>,
    /// The trailer lines, as sent.
    pub(crate) trailers: Vec<String>,
    /// How many bytes of the input the body took, framing included.
    pub(crate) used: usize,
}

/// Decode the chunked body at the front of `b`: `None` while it is
/// incomplete. Panics on malformed framing.
pub(crate) fn dechunk(b: &[u8]) -> Option<Dechunked> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let eol = pos + find(&b[pos..], b"\r\n")?;
        let line = std::str::from_utf8(&b[pos..eol]).unwrap();
        let size = line.split(';').next().unwrap().trim();
        let size =
            usize::from_str_radix(size, 16).unwrap_or_else(|_| panic!("chunk size {line:?}"));
        pos = eol + 2;
        if size == 0 {
            break;
        }
        if b.len() < pos + size + 2 {
            return None;
        }
        body.extend_from_slice(&b[pos..pos + size]);
        assert_eq!(
            &b[pos + size..pos + size + 2],
            b"\r\n",
            "chunk data not ended by CRLF"
        );
        pos += size + 2;
    }
    let mut trailers = Vec::new();
    loop {
        let eol = pos + find(&b[pos..], b"\r\n")?;
        let line = std::str::from_utf8(&b[pos..eol]).unwrap().to_owned();
        pos = eol + 2;
        if line.is_empty() {
            return Some(Dechunked {
                body,
                trailers,
                used: pos,
            });
        }
        trailers.push(line);
    }
}

/// A response read off a [`RawClient`].
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    /// The minor version of the status line (`HTTP/1.x`).
    pub(crate) version: u8,
    pub(crate) status: u16,
    /// The fields, names lowercased, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, decoded.
    pub(crate) body: Vec<u8>,
    /// The body as framed on the wire (chunk sizes and trailers included).
    pub(crate) framed: Vec<u8>,
}

impl RawResponse {
    /// Every value of the field `name` (lowercase).
    pub(crate) fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the field `name` (lowercase), if there is exactly one.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        match self.header_all(name)[..] {
            [v] => Some(v),
            [] => None,
            ref many => panic!("{name} sent {} times: {many:?}", many.len()),
        }
    }

    /// The body as text.
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// How long a [`RawClient`] waits for bytes before failing the test.
const RAW_CLIENT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An HTTP/1.1 client on raw TCP: writes exact bytes, reads responses.
/// Every read fails the test after ten seconds without an answer (unless
/// [`unguarded`](Self::unguarded)).
pub(crate) struct RawClient {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
    guard: Option<std::time::Duration>,
}

impl RawClient {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
            guard: Some(RAW_CLIENT_WAIT),
        }
    }

    /// Reads wait without a limit: for tests on paused time, where a
    /// pending timer lets the clock jump while a socket is read.
    #[must_use]
    pub(crate) fn unguarded(mut self) -> Self {
        self.guard = None;
        self
    }

    /// `fut`, failing the test if the guard time passes first.
    async fn guarded<T>(guard: Option<std::time::Duration>, fut: impl Future<Output = T>) -> T {
        match guard {
            None => fut.await,
            Some(limit) => tokio::time::timeout(limit, fut)
                .await
                .unwrap_or_else(|_| panic!("no answer from the proxy within {limit:?}")),
        }
    }

    /// Write `bytes` in one write.
    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Read until `done` finds an end in what was read (not taken off).
    async fn fill(&mut self, done: impl Fn(&[u8]) -> Option<usize>) -> usize {
        let (stream, buf) = (&mut self.stream, &mut self.buf);
        let got = Self::guarded(self.guard, fill_until(stream, buf, done)).await;
        got.unwrap_or_else(|| {
            panic!(
                "the proxy closed the connection; got {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// Take `n` bytes off what was read (reading more as needed).
    pub(crate) async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        self.fill(|b| (b.len() >= n).then_some(n)).await;
        self.buf.drain(..n).collect()
    }

    /// Read a response head: (minor version, status, fields).
    pub(crate) async fn read_head(&mut self) -> (u8, u16, Vec<(String, String)>) {
        let end = self.fill(|b| find(b, b"\r\n\r\n").map(|i| i + 4)).await;
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut fields);
        let parsed = resp.parse(&self.buf[..end]).unwrap();
        assert!(parsed.is_complete());
        let headers = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        let out = (resp.version.unwrap(), resp.code.unwrap(), headers);
        self.buf.drain(..end);
        out
    }

    /// Read one whole response; `head_request` says it answers a HEAD.
    pub(crate) async fn read_response(&mut self, head_request: bool) -> RawResponse {
        let (version, status, headers) = self.read_head().await;
        let mut resp = RawResponse {
            version,
            status,
            headers,
            body: Vec::new(),
            framed: Vec::new(),
        };
        if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return resp;
        }
        if resp.header("transfer-encoding").is_some() {
            assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
            let used = self.fill(|b| dechunk(b).map(|d| d.used)).await;
            resp.body = dechunk(&self.buf).unwrap().body;
            resp.framed = self.buf.drain(..used).collect();
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().unwrap();
            resp.body = self.read_exact(len).await;
            resp.framed.clone_from(&resp.body);
        } else {
            resp.body = self.read_to_end().await;
            resp.framed.clone_from(&resp.body);
        }
        resp
    }

    /// Everything until the proxy closes the connection (EOF or reset).
    pub(crate) async fn read_to_end(&mut self) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut out = std::mem::take(&mut self.buf);
        let guard = self.guard;
        let read = async {
            loop {
                out.reserve(16 * 1024);
                match self.stream.read_buf(&mut out).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        Self::guarded(guard, read).await;
        out
    }
}
