//! Active HTTP health checks against two local servers, one of which turns
//! sick, with state changes printed as they happen.
//!
//! Run with `cargo run -p lb-health --example active_checks`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lb_balance::{Algorithm, Balancer, Endpoint, PickRequest};
use lb_health::{spawn_active, ActiveConfig, CheckKind, EventSink};
use tokio::net::TcpListener;

/// A tiny HTTP/1.1 server whose `/health` answers 200 while `healthy` is set.
async fn server(healthy: Arc<AtomicBool>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let healthy = Arc::clone(&healthy);
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let code = if healthy.load(Relaxed) { 200 } else { 503 };
                    let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"")));
                    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
                    async move { Ok::<_, Infallible>(resp) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                if let Err(error) = conn.await {
                    eprintln!("server connection: {error}");
                }
            });
        }
    });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a_ok = Arc::new(AtomicBool::new(true));
    let b_ok = Arc::new(AtomicBool::new(true));
    let a = server(Arc::clone(&a_ok)).await?;
    let b = server(Arc::clone(&b_ok)).await?;

    let balancer = Arc::new(Balancer::new(
        Algorithm::RoundRobin,
        vec![
            Endpoint::new(a.to_string(), a),
            Endpoint::new(b.to_string(), b),
        ],
    ));
    let events = EventSink::new().with_subscriber(|e| {
        println!(
            "{}: {} {} -> {} ({})",
            e.upstream, e.server, e.from, e.to, e.reason
        );
    });

    let mut cfg = ActiveConfig::new(CheckKind::Http {
        path: "/health".into(),
        host: None,
        expect: 200..=399,
    });
    cfg.interval = Duration::from_millis(200);
    cfg.timeout = Duration::from_millis(500);
    cfg.unhealthy_threshold = 2;
    cfg.healthy_threshold = 2;
    let _checker = spawn_active("demo".into(), Arc::clone(&balancer), cfg, events);

    println!("server {a} turns sick");
    a_ok.store(false, Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let picks: Vec<SocketAddr> = (0..4)
        .filter_map(|_| balancer.pick(&PickRequest::default()))
        .map(|e| *e.value())
        .collect();
    println!("picks while {a} is out: {picks:?}");

    println!("server {a} recovers");
    a_ok.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for endpoint in balancer.snapshot().endpoints() {
        let stats = &endpoint.state().stats;
        println!(
            "{}: {} (checks ok {}, failed {})",
            endpoint.id(),
            endpoint.state().health(),
            stats.checks_ok.load(Relaxed),
            stats.checks_failed.load(Relaxed),
        );
    }
    Ok(())
}
