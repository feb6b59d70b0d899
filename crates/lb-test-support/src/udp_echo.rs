//! A UDP echo server.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Replies to each datagram with the same bytes, prefixed with its name
/// (empty for [`UdpEcho::start`]).
#[derive(Debug)]
pub struct UdpEcho {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UdpEcho {
    /// Start a plain echo on `127.0.0.1:0`.
    pub async fn start() -> Self {
        Self::named("").await
    }

    /// Start an echo that prefixes replies with `name`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn named(name: &str) -> Self {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind loopback"));
        let addr = socket.local_addr().expect("local addr");
        let prefix = name.as_bytes().to_vec();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let mut out = prefix.clone();
                out.extend_from_slice(&buf[..n]);
                let _ = socket.send_to(&out, from).await;
            }
        });
        Self { addr, task }
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
