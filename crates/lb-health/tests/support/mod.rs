//! Local test helpers: real backends on 127.0.0.1:0 (a request-head
//! recorder, gRPC health over h2c, a silent one) and an event recorder, next
//! to `lb-test-support`'s `HttpBackend` and `trace_init`.
// Shared by several test binaries (not all use everything); test helpers
// panic on setup failures by design.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lb_health::{EventSink, HealthEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use lb_test_support::{trace_init, HttpBackend};

/// Records every event; also forwards them to a channel for awaiting.
pub struct Recorder {
    pub events: Arc<Mutex<Vec<HealthEvent>>>,
    pub rx: mpsc::UnboundedReceiver<HealthEvent>,
}

pub fn recorder() -> (EventSink, Recorder) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::unbounded_channel();
    let sink = {
        let events = Arc::clone(&events);
        EventSink::new().with_subscriber(move |e| {
            events.lock().unwrap().push(e.clone());
            let _ = tx.send(e.clone());
        })
    };
    (sink, Recorder { events, rx })
}

impl Recorder {
    pub fn all(&self) -> Vec<HealthEvent> {
        self.events.lock().unwrap().clone()
    }
}

/// A bare HTTP/1.1 server that records the head of every request and
/// answers `200` with an empty body (to see exactly what a probe sends).
pub struct HeadRecorder {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl HeadRecorder {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let h = Arc::clone(&heads);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                // Bounded: a probe's head is far smaller than 64 KiB.
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                h.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        Self { addr, heads, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The header value of `name` in the last request (case-insensitive).
    pub fn last_header(&self, name: &str) -> Option<String> {
        let heads = self.heads.lock().unwrap();
        let head = heads.last()?;
        head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The request line of the last request.
    pub fn last_request_line(&self) -> Option<String> {
        let heads = self.heads.lock().unwrap();
        heads.last()?.lines().next().map(str::to_owned)
    }
}

impl Drop for HeadRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// gRPC health server over h2c: answers `grpc.health.v1.Health/Check` for
/// the service `known` with the configured serving status, and
/// SERVICE_UNKNOWN (3) for any other service name.
pub struct GrpcBackend {
    addr: SocketAddr,
    status: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl GrpcBackend {
    pub async fn start(known: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU64::new(1));
        let st = Arc::clone(&status);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let st = Arc::clone(&st);
                        async move {
                            assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let service = decode_service(&body);
                            let status = if service == known {
                                st.load(Relaxed)
                            } else {
                                3
                            };
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", "0".parse().unwrap());
                            let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                                Ok(Frame::data(encode_status(status))),
                                Ok(Frame::trailers(trailers)),
                            ];
                            let body = StreamBody::new(futures_util::stream::iter(frames));
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .header("content-type", "application/grpc")
                                    .body(body)
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, status, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn set_status(&self, status: u64) {
        self.status.store(status, Relaxed);
    }
}

impl Drop for GrpcBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `HealthCheckRequest.service` from a framed request (single-byte lengths
/// suffice for test names).
fn decode_service(body: &[u8]) -> String {
    let msg = &body[5..];
    if msg.is_empty() {
        return String::new();
    }
    assert_eq!(msg[0], 0x0a);
    let len = msg[1] as usize;
    String::from_utf8(msg[2..2 + len].to_vec()).unwrap()
}

fn encode_status(status: u64) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(0);
    out.put_u32(2);
    out.put_u8(0x08);
    out.put_u8(status as u8);
    out.freeze()
}

/// Accepts connections and never answers (holds them open).
pub struct SilentBackend {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SilentBackend {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held: Vec<TcpStream> = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Self { addr, task }
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SilentBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address nothing listens on (bound, then closed).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
