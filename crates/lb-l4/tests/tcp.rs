//! TCP proxying over real loopback sockets.
// Helper functions outside #[test] fns panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use lb_balance::Algorithm;
use lb_l4::{CloseReason, L4Error, TcpOptions, TcpProxy};
use lb_test_support::TcpEcho;
use support::{balancer, closed_port, hold_time, next_record, records, serve, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{Service, ServiceExt};

type Req = (TcpStream, SocketAddr, SocketAddr);

fn opts(splice: bool) -> TcpOptions {
    let mut o = TcpOptions::default();
    o.splice = splice;
    o
}

/// Write `data`, half-close, read everything back.
async fn roundtrip(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let data = data.to_vec();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut out = Vec::new();
    tokio::time::timeout(GUARD, r.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    out
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn echo_through(splice: bool) {
    lb_test_support::trace_init();
    let echo = TcpEcho::start().await;
    let (observer, mut rx) = records();
    let proxy = TcpProxy::new(
        "t",
        balancer(Algorithm::RoundRobin, &[echo.addr()]),
        opts(splice),
    )
    .with_observer(observer);
    let stats = Arc::clone(proxy.stats());
    let running = serve(proxy).await;
    let data = payload(3 * 1024 * 1024 + 17);
    assert_eq!(roundtrip(running.addr, &data).await, data);

    let record = next_record(&mut rx).await;
    assert_eq!(record.server, Some(echo.addr()));
    assert_eq!(record.close, CloseReason::Finished);
    assert_eq!(
        (record.bytes_up, record.bytes_down),
        (data.len() as u64, data.len() as u64)
    );
    assert_eq!(stats.bytes_up.load(Relaxed), data.len() as u64);
    assert_eq!(stats.bytes_down.load(Relaxed), data.len() as u64);
    assert_eq!(stats.connections_total.load(Relaxed), 1);
    assert_eq!(stats.connections_active.load(Relaxed), 0);
}

#[tokio::test]
async fn echo_through_tcp_with_splice() {
    echo_through(true).await;
}

#[tokio::test]
async fn echo_through_tcp_with_userspace_copy() {
    echo_through(false).await;
}

#[tokio::test]
async fn connections_rotate_round_robin() {
    let echoes = [
        TcpEcho::start().await,
        TcpEcho::start().await,
        TcpEcho::start().await,
    ];
    let addrs: Vec<_> = echoes.iter().map(TcpEcho::addr).collect();
    let proxy = TcpProxy::new("t", balancer(Algorithm::RoundRobin, &addrs), opts(true));
    let running = serve(proxy).await;
    let mut order = Vec::new();
    for _ in 0..6 {
        let before: Vec<u64> = echoes.iter().map(TcpEcho::connections).collect();
        assert_eq!(roundtrip(running.addr, b"x").await, b"x");
        let after: Vec<u64> = echoes.iter().map(TcpEcho::connections).collect();
        let hit: Vec<usize> = (0..3).filter(|&i| after[i] != before[i]).collect();
        assert_eq!(hit.len(), 1, "one server per connection");
        order.push(hit[0]);
    }
    assert_ne!(order[0], order[1]);
    assert_ne!(order[1], order[2]);
    assert_ne!(order[0], order[2]);
    assert_eq!(order[..3], order[3..], "the rotation repeats: {order:?}");
}

/// A server that reads until the client's FIN, then answers with a large
/// body (so it flows after the client stopped writing) and closes.
async fn drain_then_reply(answer: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&answer).await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    (addr, task)
}

async fn half_close(splice: bool) {
    let answer = payload(2 * 1024 * 1024);
    let (server, got) = drain_then_reply(answer.clone()).await;
    let proxy = TcpProxy::new(
        "t",
        balancer(Algorithm::RoundRobin, &[server]),
        opts(splice),
    );
    let running = serve(proxy).await;

    let mut client = TcpStream::connect(running.addr).await.unwrap();
    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap(); // FIN: the server sees EOF...
    let mut reply = Vec::new();
    // ...and the other direction still carries the whole answer.
    tokio::time::timeout(GUARD, client.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.await.unwrap(), b"request");
    assert_eq!(reply.len(), answer.len());
    assert!(reply == answer);
}

#[tokio::test]
async fn half_close_passes_fin_and_keeps_the_other_direction_with_splice() {
    half_close(true).await;
}

#[tokio::test]
async fn half_close_passes_fin_and_keeps_the_other_direction_with_userspace_copy() {
    half_close(false).await;
}

#[tokio::test]
async fn refused_connect_goes_to_the_next_server() {
    let echo = TcpEcho::start().await;
    let dead = closed_port();
    let balancer = balancer(Algorithm::RoundRobin, &[dead, echo.addr()]);
    let (observer, mut rx) = records();
    let mut o = opts(true);
    o.retry_attempts = 1;
    let proxy = TcpProxy::new("t", Arc::clone(&balancer), o).with_observer(observer);
    let running = serve(proxy).await;
    let mut retried = 0;
    for _ in 0..4 {
        assert_eq!(roundtrip(running.addr, b"hi").await, b"hi");
        let record = next_record(&mut rx).await;
        assert_eq!(record.server, Some(echo.addr()));
        retried += record.retries;
    }
    assert_eq!(echo.connections(), 4);
    assert!(
        retried >= 1,
        "round robin sent some connections to the dead server first"
    );
    let snapshot = balancer.snapshot();
    let dead_state = snapshot.endpoints()[0].state();
    assert_eq!(dead_state.stats.failures.load(Relaxed), u64::from(retried));
    assert_eq!(dead_state.in_flight(), 0);
}

#[tokio::test]
async fn refused_connects_feed_passive_outlier_detection() {
    let echo = TcpEcho::start().await;
    let dead = closed_port();
    let balancer = balancer(Algorithm::RoundRobin, &[dead, echo.addr()]);
    let mut cfg = lb_health::PassiveConfig::default();
    cfg.consecutive_failures = 2;
    cfg.max_ejected_percent = 100;
    let detector = Arc::new(lb_health::OutlierDetector::new(
        "up".into(),
        Arc::clone(&balancer),
        cfg,
        lb_health::EventSink::new(),
    ));
    let mut o = opts(true);
    o.retry_attempts = 1;
    let proxy = TcpProxy::new("t", Arc::clone(&balancer), o).with_passive(detector);
    let running = serve(proxy).await;
    for _ in 0..4 {
        assert_eq!(roundtrip(running.addr, b"hi").await, b"hi");
    }
    let snapshot = balancer.snapshot();
    let (dead_ep, live_ep) = (&snapshot.endpoints()[0], &snapshot.endpoints()[1]);
    assert_eq!(dead_ep.state().health(), lb_balance::Health::Ejected);
    assert_eq!(live_ep.state().health(), lb_balance::Health::Healthy);
    assert_eq!(
        dead_ep.state().stats.failures.load(Relaxed),
        2,
        "counted once per failure"
    );
}

#[tokio::test]
async fn without_retries_a_refused_connect_is_an_error() {
    let dead = closed_port();
    let mut o = opts(true);
    o.retry_attempts = 0;
    let proxy = TcpProxy::new("t", balancer(Algorithm::RoundRobin, &[dead]), o);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (io, peer) = listener.accept().await.unwrap();
    let local = io.local_addr().unwrap();
    let err = proxy.serve_connection(io, peer, local).await.unwrap_err();
    assert!(
        matches!(err, L4Error::Connect { server, .. } if server == dead),
        "{err}"
    );
    assert_eq!(proxy.stats().rejected.load(Relaxed), 1);
    drop(client);
}

#[tokio::test]
async fn least_conn_counts_open_connections() {
    let (a, b) = (TcpEcho::start().await, TcpEcho::start().await);
    let balancer = balancer(Algorithm::LeastConn, &[a.addr(), b.addr()]);
    let (observer, mut rx) = records();
    let proxy = TcpProxy::new("t", Arc::clone(&balancer), opts(true)).with_observer(observer);
    let running = serve(proxy).await;

    // Two connections held open: least_conn must spread them.
    let mut c1 = TcpStream::connect(running.addr).await.unwrap();
    let mut buf = [0u8; 1];
    c1.write_all(b"1").await.unwrap();
    c1.read_exact(&mut buf).await.unwrap();
    let mut c2 = TcpStream::connect(running.addr).await.unwrap();
    c2.write_all(b"2").await.unwrap();
    c2.read_exact(&mut buf).await.unwrap();
    assert_eq!((a.connections(), b.connections()), (1, 1));
    let snapshot = balancer.snapshot();
    let in_flight: Vec<u32> = snapshot
        .endpoints()
        .iter()
        .map(|e| e.state().in_flight())
        .collect();
    assert_eq!(in_flight, [1, 1]);

    drop((c1, c2));
    next_record(&mut rx).await;
    next_record(&mut rx).await;
    let in_flight: Vec<u32> = snapshot
        .endpoints()
        .iter()
        .map(|e| e.state().in_flight())
        .collect();
    assert_eq!(
        in_flight,
        [0, 0],
        "closed connections are no longer counted"
    );
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed() {
    let echo = TcpEcho::start().await;
    let (observer, mut rx) = records();
    let mut o = opts(true);
    o.idle_timeout = Duration::from_secs(10);
    let proxy = TcpProxy::new("t", balancer(Algorithm::RoundRobin, &[echo.addr()]), o)
        .with_observer(observer);
    let running = serve(proxy).await;

    let hold = hold_time(); // no timer may fire while real I/O is awaited
    let mut client = TcpStream::connect(running.addr).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).await.unwrap();
    drop(hold);

    let start = tokio::time::Instant::now();
    let record = next_record(&mut rx).await;
    assert_eq!(record.close, CloseReason::IdleTimeout);
    assert!(
        start.elapsed() >= Duration::from_secs(9),
        "closed by the idle timer"
    );
    let hold = hold_time();
    let n = client.read(&mut buf).await.unwrap();
    drop(hold);
    assert_eq!(n, 0, "the client sees the connection closed");
}

#[tokio::test]
async fn max_connections_is_enforced_through_readiness() {
    let echo = TcpEcho::start().await;
    let mut o = opts(true);
    o.max_connections = 1;
    let mut proxy = TcpProxy::new("t", balancer(Algorithm::RoundRobin, &[echo.addr()]), o);

    let first = proxy.reserve().await;
    let other = proxy.clone(); // clones share the limit
    let mut second = pin!(other.reserve());
    let polled = std::future::poll_fn(|cx| Poll::Ready(second.as_mut().poll(cx).is_ready())).await;
    assert!(!polled, "a second connection must wait while one is open");
    drop(first);
    let _second = tokio::time::timeout(GUARD, second).await.unwrap();

    // The tower Service reserves in poll_ready as well.
    let mut svc = proxy.clone();
    let ready =
        std::future::poll_fn(|cx| Poll::Ready(Service::<Req>::poll_ready(&mut svc, cx))).await;
    assert!(ready.is_pending(), "no slot while `_second` holds it");
    drop(svc); // its queued acquire would otherwise take the freed slot
    drop(_second);

    // Served through the Service interface.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (io, peer) = listener.accept().await.unwrap();
    let local = io.local_addr().unwrap();
    let svc = ServiceExt::<Req>::ready(&mut proxy).await.unwrap();
    let served = tokio::spawn(svc.call((io, peer, local)));
    client.write_all(b"svc").await.unwrap();
    client.shutdown().await.unwrap();
    let mut out = Vec::new();
    client.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"svc");
    let record = served.await.unwrap().unwrap();
    assert_eq!(record.bytes_up, 3);
}
