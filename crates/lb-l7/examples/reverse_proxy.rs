//! A small reverse proxy: listens on the first address and balances every
//! request round robin over the servers given after it, with retries on
//! connect failures and graceful shutdown on Ctrl-C.
//!
//! ```text
//! cargo run -p lb-l7 --example reverse_proxy -- 127.0.0.1:8080 127.0.0.1:9000 127.0.0.1:9001
//! curl -v http://127.0.0.1:8080/
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use lb_balance::{Algorithm, Balancer, Endpoint};
use lb_l7::route::{RouteSpec, RouteTable, Target};
use lb_l7::{ConnInfo, HttpListener, ListenerOptions, Routing, Upstream, UpstreamOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: reverse_proxy LISTEN_ADDR SERVER_ADDR...";
    let bind: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let servers = args
        .map(|a| a.parse::<SocketAddr>().map(|addr| Endpoint::new(a, addr)))
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(usage.into());
    }

    let balancer = Arc::new(Balancer::new(Algorithm::RoundRobin, servers));
    let upstream = Upstream::new(
        "backends".into(),
        balancer,
        UpstreamOptions::default(),
        None,
    );
    let table = RouteTable::new(vec![RouteSpec::new(Target::Upstream("backends".into()))])?;
    let routing = Routing::new(
        table,
        HashMap::from([("backends".to_owned(), Arc::new(upstream))]),
    );
    let listener = Arc::new(HttpListener::new(
        "example".into(),
        ListenerOptions::default(),
        Arc::new(routing),
        None,
    ));

    let tcp = TcpListener::bind(bind).await?;
    println!(
        "proxying http://{} (HTTP/1.1 and h2c); Ctrl-C stops",
        tcp.local_addr()?
    );
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    loop {
        tokio::select! {
            accepted = tcp.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(error) => {
                        eprintln!("accept: {error}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let info = ConnInfo::new(peer, stream.local_addr()?);
                let (listener, token) = (Arc::clone(&listener), shutdown.child_token());
                tasks.spawn(async move { listener.serve_connection(stream, info, token).await });
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Stop accepting, let in-flight requests finish.
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    Ok(())
}
