//! Connection timers and shutdown. On paused time: a slow request head is
//! cut after `header_timeout`; a kept-alive connection (HTTP/1.1 or h2) is
//! closed after `idle_timeout`, not after the shorter `header_timeout`.
//! Those tests talk to no server (the upstream has none: 503), so the only
//! timers running are the listener's. Graceful shutdown closes idle
//! connections at once and lets a request in flight finish.

use std::time::Duration;

use lb_l7::{ListenerOptions, UpstreamOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::*;

fn opts() -> ListenerOptions {
    let mut o = ListenerOptions::default();
    o.header_timeout = Duration::from_secs(10);
    o.idle_timeout = Duration::from_secs(60);
    o
}

/// Read until EOF (or error); returns what was read. Gives up (failing
/// the test) after ten virtual minutes.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(600), read)
        .await
        .expect("the proxy closed the connection");
    out
}

#[tokio::test(start_paused = true)]
async fn a_slow_request_head_is_cut_after_header_timeout() {
    let up = upstream("none", &[], UpstreamOptions::default());
    let proxy = Proxy::start(opts(), routing(vec![to("none")], &[&up])).await;

    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let t0 = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let got = read_to_close(&mut s).await;
    assert!(got.is_empty(), "no answer to an incomplete head: {got:?}");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(60),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_keepalive_connection_is_closed_after_idle_timeout() {
    let up = upstream("none", &[], UpstreamOptions::default());
    let proxy = Proxy::start(opts(), routing(vec![to("none")], &[&up])).await;

    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 503");
    let t0 = Instant::now();
    let _rest = read_to_close(&mut s).await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(60),
        "closed after {waited:?}, before idle_timeout"
    );
    assert!(waited < Duration::from_secs(61), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_idle_connections_gracefully() {
    let up = upstream("none", &[], UpstreamOptions::default());
    let proxy = Proxy::start(opts(), routing(vec![to("none")], &[&up])).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.unwrap();
    let t0 = Instant::now();
    proxy.shutdown();
    let _rest = read_to_close(&mut s).await;
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "closed by shutdown, not a timer"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_h2_connection_gets_goaway_after_idle_timeout() {
    let up = upstream("none", &[], UpstreamOptions::default());
    let proxy = Proxy::start(opts(), routing(vec![to("none")], &[&up])).await;

    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get("http://x/").body(empty()).unwrap();
    assert_eq!(h2.send_request(req).await.unwrap().status(), 503);
    let t0 = Instant::now();
    // The connection task ends when the server has said GOAWAY and closed.
    tokio::time::timeout(Duration::from_secs(600), conn)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(60),
        "closed after {waited:?}, before idle_timeout"
    );
    assert!(waited < Duration::from_secs(61), "{waited:?}");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let gate = std::sync::Arc::clone(&release);
    let backend = FnBackend::start(move |_req| {
        let gate = std::sync::Arc::clone(&gate);
        async move {
            gate.notified().await;
            http::Response::new(full("finished"))
        }
    })
    .await;
    let up = upstream("api", &[backend.addr], UpstreamOptions::default());
    let proxy = Proxy::start(opts(), routing(vec![to("api")], &[&up])).await;

    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Bounded wait until the request is on the server.
    let state = std::sync::Arc::clone(up.balancer().snapshot().endpoints()[0].state());
    for _ in 0..1000 {
        if state.in_flight() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(state.in_flight(), 1);
    proxy.shutdown();
    release.notify_one();
    let answer = String::from_utf8(read_to_close(&mut s).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("finished"), "{answer}");
}
