//! Issue 5 through the real binary: a server killed under load costs no
//! request and leaves the pool, comes back when it returns; no server at all
//! is a 503 at once; backups only serve when every primary is down.

mod support_e2e;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lb_e2e::{client, eventually, free_port, get, LbServer};
use lb_test_support::HttpBackend;
use support_e2e::{local, state_of, wait_state};
use tokio::net::TcpListener;

/// One http listener on `web` routing to upstream `api` over `servers`
/// (`(addr, backup)`), with fast active checks and short ejections.
fn config(web: u16, admin: u16, servers: &[(SocketAddr, bool)], thresholds: u32) -> String {
    let servers: Vec<String> = servers
        .iter()
        .map(|(a, backup)| format!("{{ addr = \"{a}\", backup = {backup} }}"))
        .collect();
    format!(
        r#"
[admin]
bind = "127.0.0.1:{admin}"
[listeners.web]
bind = "127.0.0.1:{web}"
protocol = "http"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"
[upstreams.api]
algorithm = "round_robin"
connect_timeout = "10s"
servers = [{servers}]
[upstreams.api.health]
check = "http"
path = "/health"
interval = "200ms"
timeout = "1s"
unhealthy_threshold = {thresholds}
healthy_threshold = {thresholds}
[upstreams.api.passive]
consecutive_failures = 3
ejection_time = "300ms"
"#,
        servers = servers.join(", ")
    )
}

/// What the load loops saw: responses per backend name, and every failure.
#[derive(Debug, Default)]
struct Seen {
    by_backend: BTreeMap<String, u64>,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_under_load_costs_no_request_leaves_the_pool_and_comes_back(
) -> anyhow::Result<()> {
    let a = HttpBackend::start("a").await;
    let b = HttpBackend::start("b").await;
    let c = HttpBackend::start("c").await;
    let b_addr = b.addr();
    let (web, admin) = (free_port(), free_port());
    let servers = [(a.addr(), false), (b_addr, false), (c.addr(), false)];
    let _lb = LbServer::start(
        &config(web, admin, &servers, 2),
        &[local(web), local(admin)],
    )
    .await?;

    // Steady load: 4 loops of GET / on pooled keep-alive connections until
    // told to stop (each bounded at 20 000 requests).
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
        loops.push(tokio::spawn(async move {
            let http = client();
            let url = format!("http://127.0.0.1:{web}/");
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let outcome = get(&http, &url).await;
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ok(r) if r.status == 200 => {
                        *seen.by_backend.entry(r.backend()).or_default() += 1;
                    }
                    Ok(r) => seen.failures.push(format!("{} {}", r.status, r.body)),
                    Err(e) => seen.failures.push(format!("{e:#}")),
                }
            }
        }));
    }
    let count = |name: &str| {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_backend
            .get(name)
            .copied()
            .unwrap_or(0)
    };
    eventually("every backend serves the load", || async {
        (count("a") >= 20 && count("b") >= 20 && count("c") >= 20).then_some(())
    })
    .await?;

    // Kill b: it stops accepting and its open connections are closed.
    b.stop();
    eventually("b leaves the pool", || async {
        let s = state_of(admin, "api", b_addr).await;
        (s == "unhealthy" || s == "ejected").then_some(())
    })
    .await?;
    // Out of the pool: a and c carry on serving.
    let (a_then, c_then) = (count("a"), count("c"));
    eventually("a and c serve after b left", || async {
        (count("a") >= a_then + 20 && count("c") >= c_then + 20).then_some(())
    })
    .await?;

    // b returns on the same address: checks pass and it gets traffic again.
    let listener = eventually("rebind b's port", || async {
        TcpListener::bind(b_addr).await.ok()
    })
    .await?;
    let b = HttpBackend::serve("b", listener);
    wait_state(admin, "api", b_addr, "healthy").await?;
    eventually("the returned b gets traffic", || async {
        (b.requests() >= 20).then_some(())
    })
    .await?;

    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await?;
    }
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    let total: u64 = seen.by_backend.values().sum();
    assert!(
        seen.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        seen.failures.len(),
        total + seen.failures.len() as u64,
        seen.failures
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_server_down_the_client_gets_503_at_once() -> anyhow::Result<()> {
    let a = HttpBackend::start("a").await;
    let b = HttpBackend::start("b").await;
    let (web, admin) = (free_port(), free_port());
    let servers = [(a.addr(), false), (b.addr(), false)];
    let _lb = LbServer::start(
        &config(web, admin, &servers, 1),
        &[local(web), local(admin)],
    )
    .await?;
    let http = client();
    let url = format!("http://127.0.0.1:{web}/");
    assert_eq!(get(&http, &url).await?.status, 200);

    // Both fail their checks but still answer real requests: a 503 that
    // reaches neither proves nothing was tried (no connect, no retry).
    a.set_healthy(false);
    b.set_healthy(false);
    wait_state(admin, "api", a.addr(), "unhealthy").await?;
    wait_state(admin, "api", b.addr(), "unhealthy").await?;
    let before = (a.requests(), b.requests());
    for _ in 0..5 {
        let r = get(&http, &url).await?;
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/plain; charset=utf-8"),
            "{r:?}"
        );
        assert!(r.body.len() < 100, "a short plain-text body: {:?}", r.body);
    }
    assert_eq!((a.requests(), b.requests()), before, "no server was tried");

    // Killed for real: still 503 (no server available), not 502.
    let (a_addr, b_addr) = (a.addr(), b.addr());
    a.stop();
    b.stop();
    for _ in 0..3 {
        let r = get(&http, &url).await?;
        assert_eq!(r.status, 503, "{r:?}");
    }
    assert_eq!(state_of(admin, "api", a_addr).await, "unhealthy");
    assert_eq!(state_of(admin, "api", b_addr).await, "unhealthy");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_take_over_only_when_every_primary_is_down() -> anyhow::Result<()> {
    let a = HttpBackend::start("a").await;
    let b = HttpBackend::start("b").await;
    let backup = HttpBackend::start("backup").await;
    let (web, admin) = (free_port(), free_port());
    let servers = [(a.addr(), false), (b.addr(), false), (backup.addr(), true)];
    let _lb = LbServer::start(
        &config(web, admin, &servers, 1),
        &[local(web), local(admin)],
    )
    .await?;
    let http = client();
    let url = format!("http://127.0.0.1:{web}/");
    let names = |n: usize| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let mut out = BTreeMap::<String, u32>::new();
            for _ in 0..n {
                let r = get(&http, &url).await?;
                anyhow::ensure!(r.status == 200, "{r:?}");
                *out.entry(r.backend()).or_default() += 1;
            }
            anyhow::Ok(out)
        }
    };

    // All primaries up: round robin over a and b only.
    let seen = names(10).await?;
    assert_eq!(seen, BTreeMap::from([("a".into(), 5), ("b".into(), 5)]));

    // One primary down: the other takes everything, the backup still nothing.
    a.set_healthy(false);
    wait_state(admin, "api", a.addr(), "unhealthy").await?;
    assert_eq!(names(6).await?, BTreeMap::from([("b".into(), 6)]));
    assert_eq!(backup.requests(), 0);

    // Every primary down: the backup takes over.
    b.set_healthy(false);
    wait_state(admin, "api", b.addr(), "unhealthy").await?;
    assert_eq!(names(6).await?, BTreeMap::from([("backup".into(), 6)]));

    // A primary is back: the backup is idle again.
    a.set_healthy(true);
    wait_state(admin, "api", a.addr(), "healthy").await?;
    assert_eq!(names(6).await?, BTreeMap::from([("a".into(), 6)]));
    assert_eq!(backup.requests(), 6);
    Ok(())
}
