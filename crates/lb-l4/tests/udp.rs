//! UDP proxying over real loopback sockets.
// Helper functions outside #[test] fns panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use lb_balance::Algorithm;
use lb_l4::{CloseReason, UdpOptions, UdpProxy};
use lb_test_support::UdpEcho;
use support::{balancer, hold_time, next_record, records, GUARD};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn run(proxy: UdpProxy) -> Running {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { proxy.run(socket, token).await });
    Running {
        addr,
        shutdown,
        task,
    }
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// Send `msg` to the proxy and return the reply.
async fn ask(socket: &UdpSocket, proxy: SocketAddr, msg: &[u8]) -> Vec<u8> {
    socket.send_to(msg, proxy).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(GUARD, socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, proxy, "replies come from the listener socket");
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn udp_echo_through() {
    let echo = UdpEcho::start().await;
    let proxy = UdpProxy::new(
        "u",
        balancer(Algorithm::RoundRobin, &[echo.addr()]),
        UdpOptions::default(),
    );
    let stats = Arc::clone(proxy.stats());
    let running = run(proxy).await;
    let c = client().await;
    assert_eq!(ask(&c, running.addr, b"hello").await, b"hello");
    let big = vec![7u8; 1400];
    assert_eq!(ask(&c, running.addr, &big).await, big);
    assert_eq!(
        stats.connections_total.load(Relaxed),
        1,
        "one client, one flow"
    );
    assert_eq!(stats.bytes_up.load(Relaxed), 1405);
    assert_eq!(stats.bytes_down.load(Relaxed), 1405);
    running.shutdown.cancel();
    running.task.await.unwrap();
}

#[tokio::test]
async fn a_clients_datagrams_stay_on_one_server() {
    let (a, b) = (UdpEcho::named("a:").await, UdpEcho::named("b:").await);
    let proxy = UdpProxy::new(
        "u",
        balancer(Algorithm::RoundRobin, &[a.addr(), b.addr()]),
        UdpOptions::default(),
    );
    let running = run(proxy).await;
    let (c1, c2) = (client().await, client().await);
    let first1 = ask(&c1, running.addr, b"x").await;
    let first2 = ask(&c2, running.addr, b"x").await;
    assert_ne!(
        first1[..2],
        first2[..2],
        "round robin gives the second client the other server"
    );
    for i in 0..10u8 {
        // Round robin would alternate if datagrams were balanced one by one.
        assert_eq!(ask(&c1, running.addr, &[i]).await[..2], first1[..2]);
        assert_eq!(ask(&c2, running.addr, &[i]).await[..2], first2[..2]);
    }
}

#[tokio::test(start_paused = true)]
async fn flows_expire_after_the_session_timeout() {
    let echo = UdpEcho::named("e:").await;
    let (observer, mut rx) = records();
    let mut opts = UdpOptions::default();
    opts.session_timeout = Duration::from_secs(30);
    let balancer = balancer(Algorithm::RoundRobin, &[echo.addr()]);
    let proxy = UdpProxy::new("u", Arc::clone(&balancer), opts).with_observer(observer);
    let stats = Arc::clone(proxy.stats());
    let running = run(proxy).await;
    let c = client().await;

    let hold = hold_time(); // the flow's timer must not fire during real I/O
    assert_eq!(ask(&c, running.addr, b"1").await, b"e:1");
    drop(hold);
    let state = Arc::clone(balancer.snapshot().endpoints()[0].state());
    assert_eq!(stats.connections_active.load(Relaxed), 1);
    assert_eq!(state.in_flight(), 1, "an open flow counts on its server");

    // Traffic keeps a flow alive: 20 s, a datagram, 20 s more.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let hold = hold_time();
    assert_eq!(ask(&c, running.addr, b"2").await, b"e:2");
    drop(hold);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        stats.connections_active.load(Relaxed),
        1,
        "still open 40 s after the start"
    );

    // 30 s without traffic closes it.
    let record = next_record(&mut rx).await;
    assert_eq!(record.close, CloseReason::Finished);
    assert_eq!((record.bytes_up, record.bytes_down), (2, 6));
    assert_eq!(stats.connections_active.load(Relaxed), 0);
    assert_eq!(state.in_flight(), 0);

    // The next datagram opens a new flow.
    let hold = hold_time();
    assert_eq!(ask(&c, running.addr, b"3").await, b"e:3");
    drop(hold);
    assert_eq!(stats.connections_total.load(Relaxed), 2);
    running.shutdown.cancel();
    assert_eq!(next_record(&mut rx).await.close, CloseReason::Shutdown);
}

#[tokio::test]
async fn flows_are_bounded() {
    let echo = UdpEcho::start().await;
    let mut opts = UdpOptions::default();
    opts.max_flows = 1;
    let proxy = UdpProxy::new("u", balancer(Algorithm::RoundRobin, &[echo.addr()]), opts);
    let stats = Arc::clone(proxy.stats());
    let running = run(proxy).await;
    let (c1, c2) = (client().await, client().await);
    assert_eq!(ask(&c1, running.addr, b"in").await, b"in");
    c2.send_to(b"over", running.addr).await.unwrap();
    // c1's next exchange is ordered after c2's datagram on the listener.
    assert_eq!(ask(&c1, running.addr, b"again").await, b"again");
    assert_eq!(
        stats.rejected.load(Relaxed),
        1,
        "the second client's datagram was dropped"
    );
    assert_eq!(stats.connections_total.load(Relaxed), 1);
}
