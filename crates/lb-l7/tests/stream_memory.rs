//! A large body streams through the proxy both ways (client → proxy →
//! server `/echo` → proxy → client) with the process's memory staying flat.
//! Alone in its binary, so no other test's allocations blur the RSS reading.

// Helpers below unwrap: any failure is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "proxy/support.rs"]
mod support;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use lb_l7::{ListenerOptions, UpstreamOptions};
use lb_test_support::HttpBackend;

use support::*;

const MIB: u64 = 1024 * 1024;
/// 256 MiB: large enough that buffering it whole anywhere would show as
/// hundreds of MiB of RSS, small enough for a debug build to move in seconds.
const TOTAL: u64 = 256 * MIB;
/// Allowed RSS growth. Buffering the body in any one place would add at
/// least 256 MiB; streaming holds a few buffers per connection (hyper's read
/// buffer is at most 64 KiB here, plus write queues of a few chunks) on four
/// connections, and the allocator may keep freed chunks cached per worker
/// thread. 64 MiB is far above the second and far below the first.
const MAX_GROWTH: u64 = 64 * MIB;

/// A body made on the fly: `left` bytes in 64 KiB chunks of one shared buffer.
struct Generated {
    left: u64,
    chunk: Bytes,
}

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len() as u64);
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n as usize)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

fn generated(len: u64) -> TestBody {
    let chunk = Bytes::from(vec![0x5a; 64 * 1024]);
    Generated { left: len, chunk }
        .map_err(|never| match never {})
        .boxed()
}

/// Resident set size of this process, from `/proc/self/statm` (pages of
/// 4 KiB, as on every Linux target we build for).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Echo `len` bytes through the proxy; returns (bytes back, peak RSS seen).
async fn echo(client: &mut H1Stream, len: u64) -> (u64, u64) {
    let req = Request::post("/echo")
        .header("host", "x")
        .body(generated(len))
        .unwrap();
    let resp = client.send(req).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let (mut got, mut peak, mut frames) = (0u64, rss(), 0u64);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            assert!(data.iter().all(|&b| b == 0x5a));
            got += data.len() as u64;
        }
        frames += 1;
        if frames % 256 == 0 {
            peak = peak.max(rss());
        }
    }
    (got, peak.max(rss()))
}

/// One HTTP/1.1 connection whose responses are streamed, not collected.
struct H1Stream {
    sender: hyper::client::conn::http1::SendRequest<TestBody>,
}

impl H1Stream {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(tcp);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        Self { sender }
    }

    async fn send(&mut self, req: Request<TestBody>) -> http::Response<hyper::body::Incoming> {
        self.sender.ready().await.unwrap();
        self.sender.send_request(req).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_body_streams_both_ways_with_flat_memory() {
    let backend = HttpBackend::start("echo").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;
    let mut client = H1Stream::connect(proxy.addr).await;

    // Warm up: pools, buffers and allocator arenas reach their working size.
    assert_eq!(echo(&mut client, 8 * MIB).await.0, 8 * MIB);
    let before = rss();
    let (got, peak) = echo(&mut client, TOTAL).await;
    assert_eq!(got, TOTAL, "every byte came back");
    let growth = peak.saturating_sub(before);
    assert!(
        growth < MAX_GROWTH,
        "RSS grew by {} MiB while streaming {} MiB (before {} MiB, peak {} MiB)",
        growth / MIB,
        TOTAL / MIB,
        before / MIB,
        peak / MIB
    );
}
