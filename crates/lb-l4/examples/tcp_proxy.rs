//! A TCP load balancer on the command line.
//!
//! ```text
//! cargo run -p lb-l4 --example tcp_proxy -- LISTEN SERVER [SERVER...]
//! cargo run -p lb-l4 --example tcp_proxy -- 127.0.0.1:9000 127.0.0.1:5432 127.0.0.1:5433
//! ```
//!
//! Connections to LISTEN go to the servers by `least_conn`, one extra try on
//! a refused connect, a PROXY v2 header when `LB_SEND_PROXY=v2` (or `v1`) is
//! set, and one line per connection on stdout. Ctrl-C stops it.

use std::net::SocketAddr;
use std::sync::Arc;

use lb_balance::{Algorithm, Balancer, Endpoint};
use lb_l4::{ConnectionRecord, TcpOptions, TcpProxy};
use tokio::net::TcpListener;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: tcp_proxy LISTEN SERVER [SERVER...]";
    let listen: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let servers = args
        .map(|a| a.parse::<SocketAddr>())
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(usage.into());
    }

    let endpoints = servers
        .iter()
        .map(|s| Endpoint::new(s.to_string(), *s))
        .collect();
    let balancer = Arc::new(Balancer::new(Algorithm::LeastConn, endpoints));
    let mut opts = TcpOptions::default();
    opts.retry_attempts = 1;
    opts.send_proxy_protocol = std::env::var("LB_SEND_PROXY")
        .ok()
        .map(|v| v.parse())
        .transpose()?;
    let log = |r: &ConnectionRecord| {
        let server = r.server.map_or_else(|| "-".to_owned(), |s| s.to_string());
        println!(
            "{} -> {server} up={} down={} {:?} {}",
            r.client, r.bytes_up, r.bytes_down, r.duration, r.close
        );
    };
    let proxy = TcpProxy::new("example", balancer, opts).with_observer(Arc::new(log));

    let listener = TcpListener::bind(listen).await?;
    println!(
        "listening on {}, balancing over {servers:?}",
        listener.local_addr()?
    );
    loop {
        let permit = proxy.reserve().await;
        let (io, client) = tokio::select! {
            r = listener.accept() => r?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let local = io.local_addr()?;
            let result = proxy.serve_connection(io, client, local).await;
            drop(permit);
            if let Err(e) = result {
                eprintln!("{client}: {e}");
            }
            Ok::<_, Error>(())
        });
    }
}
