//! A backend whose `/slow` requests wait until the test opens the gate.
//!
//! Lets a test hold a request in flight for exactly as long as it needs
//! (e.g. across a `SIGTERM`) without guessing durations.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A backend: `GET /slow` waits for [`GateBackend::open`], anything else
/// answers `fast` at once. Responses carry `x-backend: gate`.
#[derive(Debug)]
pub struct GateBackend {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    waiting: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl GateBackend {
    /// Start it on `127.0.0.1:0`.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (open, rx) = watch::channel(false);
        let waiting = Arc::new(AtomicU64::new(0));
        let w = Arc::clone(&waiting);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rx = rx.clone();
                let w = Arc::clone(&w);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        answer(req, rx.clone(), Arc::clone(&w))
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            open,
            waiting,
            task,
        })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many `/slow` requests arrived so far.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Let every `/slow` request (waiting or future) answer.
    pub fn open(&self) {
        let _ = self.open.send(true);
    }
}

impl Drop for GateBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    req: http::Request<Incoming>,
    mut open: watch::Receiver<bool>,
    waiting: Arc<AtomicU64>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let body = if req.uri().path() == "/slow" {
        waiting.fetch_add(1, Ordering::SeqCst);
        let _ = open.wait_for(|o| *o).await;
        "slow done"
    } else {
        "fast"
    };
    let mut resp = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    resp.headers_mut()
        .insert("x-backend", http::HeaderValue::from_static("gate"));
    Ok(resp)
}
