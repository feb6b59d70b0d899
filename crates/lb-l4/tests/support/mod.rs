//! Helpers shared by this crate's integration tests (real sockets only).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_balance::{Algorithm, Balancer, Endpoint};
use lb_l4::{ConnectionObserver, ConnectionRecord, TcpProxy};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A hang guard for awaits on real I/O: generous, never a measurement.
pub const GUARD: Duration = Duration::from_secs(20);

/// A balancer over `addrs`, ids `"s0"`, `"s1"`, ...
pub fn balancer(algorithm: Algorithm, addrs: &[SocketAddr]) -> Arc<Balancer<SocketAddr>> {
    let endpoints = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| Endpoint::new(format!("s{i}"), *a))
        .collect();
    Arc::new(Balancer::new(algorithm, endpoints))
}

/// An address on loopback where nothing listens (connects are refused).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Run `proxy` behind an accept loop on `127.0.0.1:0`.
pub struct Running {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve(proxy: TcpProxy) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((io, client)) = listener.accept().await else {
                continue;
            };
            let local = io.local_addr().unwrap();
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let _ = proxy.serve_connection(io, client, local).await;
            });
        }
    });
    Running { addr, task }
}

/// An observer sending each record down a channel.
pub fn records() -> (
    Arc<dyn ConnectionObserver>,
    mpsc::UnboundedReceiver<ConnectionRecord>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let observer = move |r: &ConnectionRecord| {
        let _ = tx.send(r.clone());
    };
    (Arc::new(observer), rx)
}

/// The next record, with a hang guard.
pub async fn next_record(rx: &mut mpsc::UnboundedReceiver<ConnectionRecord>) -> ConnectionRecord {
    tokio::time::timeout(GUARD, rx.recv())
        .await
        .expect("record in time")
        .expect("observer alive")
}

/// While alive, keeps a paused current-thread runtime from auto-advancing
/// its clock (a running `spawn_blocking` task inhibits it), so timers do not
/// fire while the test waits on real socket I/O. Drop it, then advance time.
pub struct HoldTime(Option<std::sync::mpsc::Sender<()>>);

pub fn hold_time() -> HoldTime {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = rx.recv();
    });
    HoldTime(Some(tx))
}

impl Drop for HoldTime {
    fn drop(&mut self) {
        self.0.take();
    }
}
