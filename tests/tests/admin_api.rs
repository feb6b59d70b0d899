//! The admin API through the real binary (issue 9): `/status` and `/metrics`
//! reflect real traffic, drain/enable steer it, POST needs the token, and the
//! dashboard is self-contained.

// Test helpers: a failed bind or a malformed answer should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lb_e2e::{client, eventually, free_port, get, local, request, HttpClient, LbServer};
use lb_test_support::HttpBackend;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

const TOKEN: &str = "s3cret";

/// A config with one http listener routing everything to upstream `api`.
fn config(
    web: u16,
    admin: u16,
    token: Option<&str>,
    servers: &[SocketAddr],
    health: bool,
) -> String {
    let token = token.map_or(String::new(), |t| format!("token = \"{t}\"\n"));
    let servers: Vec<String> = servers
        .iter()
        .map(|s| format!("{{ addr = \"{s}\" }}"))
        .collect();
    let health = if health {
        "[upstreams.api.health]\ncheck = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\n\
         timeout = \"1s\"\nunhealthy_threshold = 1\nhealthy_threshold = 1\n"
    } else {
        ""
    };
    format!(
        "[admin]\nbind = \"127.0.0.1:{admin}\"\n{token}\n\
         [listeners.web]\nbind = \"127.0.0.1:{web}\"\nprotocol = \"http\"\n\n\
         [[listeners.web.routes]]\npath_prefix = \"/\"\nupstream = \"api\"\n\n\
         [upstreams.api]\nalgorithm = \"round_robin\"\nservers = [{}]\n{health}",
        servers.join(", ")
    )
}

async fn start(web: u16, admin: u16, cfg: &str) -> LbServer {
    LbServer::start(cfg, &[local(web), local(admin)])
        .await
        .expect("lb-server starts")
}

async fn status(c: &HttpClient, admin: u16) -> Value {
    let reply = get(c, &format!("http://127.0.0.1:{admin}/status"))
        .await
        .expect("GET /status");
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).expect("/status is JSON")
}

/// The status object of server `addr` of upstream `api`.
fn server(status: &Value, addr: SocketAddr) -> &Value {
    status["upstreams"]["api"]["servers"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["addr"] == addr.to_string().as_str()))
        .unwrap_or_else(|| panic!("{addr} not in /status: {status}"))
}

/// Sum of the samples of metric `name` whose labels include all of `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric_name, rest) = series.split_once('{').unwrap_or((series, ""));
        if metric_name != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            *found.get_or_insert(0.0) += value.parse::<f64>().expect("metric value");
        }
    }
    found
}

async fn post(c: &HttpClient, url: &str, token: Option<&str>) -> lb_e2e::Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    request(c, "POST", url, &headers).await.expect("POST")
}

#[tokio::test]
async fn status_and_metrics_reflect_real_traffic_and_states() {
    let backends = [
        HttpBackend::start("a").await,
        HttpBackend::start("b").await,
        HttpBackend::start("c").await,
    ];
    let addrs: Vec<SocketAddr> = backends.iter().map(HttpBackend::addr).collect();
    let (web, admin) = (free_port(), free_port());
    let _lb = start(web, admin, &config(web, admin, None, &addrs, true)).await;
    let c = client();

    const N: u64 = 12;
    for _ in 0..N {
        let reply = get(&c, &format!("http://127.0.0.1:{web}/")).await.unwrap();
        assert_eq!(reply.status, 200);
    }

    let st = status(&c, admin).await;
    assert_eq!(st["ready"], true);
    assert_eq!(st["listeners"]["web"]["protocol"], "http");
    assert_eq!(st["listeners"]["web"]["requests"], N);
    assert_eq!(st["upstreams"]["api"]["algorithm"], "round_robin");
    let mut total = 0;
    for b in &backends {
        let s = server(&st, b.addr());
        assert_eq!(s["requests"], b.requests(), "{s}");
        assert_eq!(s["state"], "healthy");
        assert_eq!(s["weight"], 1);
        assert_eq!(s["backup"], false);
        assert_eq!(s["active"], 0);
        assert_eq!(s["failures"], 0);
        total += b.requests();
    }
    assert_eq!(total, N);

    let metrics = get(&c, &format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .unwrap();
    assert_eq!(metrics.status, 200);
    let m = metrics.body;
    let web_200 = [("listener", "web"), ("code", "200")];
    assert_eq!(
        metric(&m, "lb_requests_total", &web_200),
        Some(N as f64),
        "{m}"
    );
    for b in &backends {
        let server = b.addr().to_string();
        let labels = [
            ("listener", "web"),
            ("route", "0"),
            ("upstream", "api"),
            ("server", server.as_str()),
        ];
        assert_eq!(
            metric(&m, "lb_requests_total", &labels),
            Some(b.requests() as f64),
            "{m}"
        );
        let up = [("upstream", "api"), ("server", server.as_str())];
        assert_eq!(metric(&m, "lb_server_up", &up), Some(1.0), "{m}");
    }
    let by_listener = [("listener", "web"), ("upstream", "api")];
    assert_eq!(
        metric(&m, "lb_request_duration_seconds_count", &by_listener),
        Some(N as f64)
    );
    assert!(metric(&m, "lb_connections_total", &[("listener", "web")]).unwrap_or(0.0) >= 1.0);
    for name in [
        "lb_connections_active",
        "lb_server_active",
        "lb_health_checks_total",
        "lb_ejections_total",
        "lb_retries_total",
        "lb_bytes_total",
        "lb_config_reloads_total",
    ] {
        assert!(
            m.contains(&format!("# TYPE {name}")) || m.contains(&format!("\n{name}")),
            "{name} missing:\n{m}"
        );
    }

    // A failed server (active checks) and a drained one.
    backends[2].set_healthy(false);
    let url = format!(
        "http://127.0.0.1:{admin}/upstreams/api/servers/{}/drain",
        addrs[1]
    );
    let drained = post(&c, &url, None).await;
    assert_eq!(drained.status, 200, "{}", drained.body);
    let st = eventually("server c unhealthy", || async {
        let st = status(&c, admin).await;
        (server(&st, addrs[2])["state"] == "unhealthy").then_some(st)
    })
    .await
    .unwrap();
    assert_eq!(server(&st, addrs[0])["state"], "healthy");
    assert_eq!(server(&st, addrs[1])["state"], "draining");
    let m = get(&c, &format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .unwrap()
        .body;
    let up = |a: SocketAddr| {
        metric(
            &m,
            "lb_server_up",
            &[("upstream", "api"), ("server", &a.to_string())],
        )
    };
    assert_eq!(
        (up(addrs[0]), up(addrs[1]), up(addrs[2])),
        (Some(1.0), Some(0.0), Some(0.0)),
        "{m}"
    );
    let failed = [
        ("server", addrs[2].to_string()),
        ("result", "failed".into()),
    ];
    let failed: Vec<(&str, &str)> = failed.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(
        metric(&m, "lb_health_checks_total", &failed).unwrap_or(0.0) >= 1.0,
        "{m}"
    );

    // Only the healthy, not drained server takes traffic now.
    let before = backends[0].requests();
    for _ in 0..4 {
        let reply = get(&c, &format!("http://127.0.0.1:{web}/")).await.unwrap();
        assert_eq!(reply.backend(), "a");
    }
    assert_eq!(backends[0].requests(), before + 4);
}

#[tokio::test]
async fn a_refusing_server_counts_failures_and_retries() {
    let live = HttpBackend::start("a").await;
    let dead = local(free_port()); // nothing listens there: connections are refused
    let (web, admin) = (free_port(), free_port());
    let _lb = start(
        web,
        admin,
        &config(web, admin, None, &[live.addr(), dead], false),
    )
    .await;
    let c = client();

    // Round robin sends every other first attempt to the dead server; the
    // default retry policy (connect failures) retries them on the live one.
    for _ in 0..4 {
        let reply = get(&c, &format!("http://127.0.0.1:{web}/")).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(live.requests(), 4);
    let st = status(&c, admin).await;
    let failures = server(&st, dead)["failures"].as_u64().unwrap();
    assert!(failures >= 1, "{st}");
    let m = get(&c, &format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .unwrap()
        .body;
    let retries = metric(&m, "lb_retries_total", &[("upstream", "api")]).unwrap_or(0.0);
    assert_eq!(
        retries, failures as f64,
        "one retry per refused attempt:\n{m}"
    );
}

/// A backend whose `/hold` requests wait until the test opens the gate.
struct Gated {
    addr: SocketAddr,
    held: Arc<AtomicU64>,
    open: watch::Sender<bool>,
}

impl Gated {
    async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = Arc::new(AtomicU64::new(0));
        let (open, gate) = watch::channel(false);
        let counter = Arc::clone(&held);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (counter, gate) = (Arc::clone(&counter), gate.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let (counter, mut gate) = (Arc::clone(&counter), gate.clone());
                            async move {
                                if req.uri().path() == "/hold" {
                                    counter.fetch_add(1, Relaxed);
                                    let _ = gate.wait_for(|open| *open).await;
                                }
                                let mut resp = http::Response::new(Full::new(Bytes::from(name)));
                                resp.headers_mut()
                                    .insert("x-backend", http::HeaderValue::from_static(name));
                                Ok::<_, Infallible>(resp)
                            }
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, held, open }
    }
}

#[tokio::test]
async fn drain_stops_new_requests_lets_in_flight_finish_and_enable_restores() {
    let gated = [Gated::start("x").await, Gated::start("y").await];
    let addrs = [gated[0].addr, gated[1].addr];
    let (web, admin) = (free_port(), free_port());
    let _lb = start(web, admin, &config(web, admin, None, &addrs, false)).await;
    let c = client();

    // One request in flight, held by whichever server got it.
    let in_flight = {
        let c = c.clone();
        tokio::spawn(async move { get(&c, &format!("http://127.0.0.1:{web}/hold")).await })
    };
    let busy = eventually("a request is held", || async {
        gated.iter().position(|g| g.held.load(Relaxed) == 1)
    })
    .await
    .unwrap();
    let (busy_addr, other) = (addrs[busy], ["x", "y"][1 - busy]);

    let url = |action: &str| {
        format!("http://127.0.0.1:{admin}/upstreams/api/servers/{busy_addr}/{action}")
    };
    let reply = post(&c, &url("drain"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let st = status(&c, admin).await;
    assert_eq!(server(&st, busy_addr)["state"], "draining");
    assert_eq!(server(&st, busy_addr)["active"], 1);

    // New requests all go to the other server.
    for _ in 0..6 {
        let reply = get(&c, &format!("http://127.0.0.1:{web}/")).await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.backend(), other);
    }
    assert_eq!(server(&status(&c, admin).await, busy_addr)["requests"], 1);

    // The in-flight request still finishes, on the drained server.
    for g in &gated {
        g.open.send_replace(true);
    }
    let reply = in_flight.await.unwrap().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.backend(), ["x", "y"][busy]);
    eventually("in-flight count drops to 0", || async {
        (server(&status(&c, admin).await, busy_addr)["active"] == 0).then_some(())
    })
    .await
    .unwrap();

    // Enable: it takes traffic again (round robin reaches it within 2).
    let reply = post(&c, &url("enable"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        server(&status(&c, admin).await, busy_addr)["state"],
        "healthy"
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            get(&c, &format!("http://127.0.0.1:{web}/"))
                .await
                .unwrap()
                .backend(),
        );
    }
    assert!(seen.iter().any(|b| b == ["x", "y"][busy]), "{seen:?}");
}

#[tokio::test]
async fn post_needs_the_token_and_unknown_names_get_404() {
    let backend = HttpBackend::start("a").await;
    let (web, admin) = (free_port(), free_port());
    let _lb = start(
        web,
        admin,
        &config(web, admin, Some(TOKEN), &[backend.addr()], false),
    )
    .await;
    let c = client();
    let base = format!("http://127.0.0.1:{admin}");
    let drain = format!("{base}/upstreams/api/servers/{}/drain", backend.addr());

    for token in [None, Some("wrong")] {
        let reply = post(&c, &drain, token).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(reply.headers.contains_key("www-authenticate"));
        assert_eq!(post(&c, &format!("{base}/reload"), token).await.status, 401);
    }
    // Reads need no token; the refused POST changed nothing.
    assert_eq!(
        server(&status(&c, admin).await, backend.addr())["state"],
        "healthy"
    );
    assert_eq!(get(&c, &format!("{base}/live")).await.unwrap().status, 200);
    assert_eq!(get(&c, &format!("{base}/ready")).await.unwrap().status, 200);

    let reply = post(&c, &drain, Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        server(&status(&c, admin).await, backend.addr())["state"],
        "draining"
    );
    let reply = post(&c, &format!("{base}/reload"), Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // A reload keeps the drained state of a server that stays.
    assert_eq!(
        server(&status(&c, admin).await, backend.addr())["state"],
        "draining"
    );

    let reply = post(
        &c,
        &format!("{base}/upstreams/nope/servers/1.2.3.4:5/drain"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.body.contains("\"nope\"") && reply.body.contains("api"),
        "{}",
        reply.body
    );
    let reply = post(
        &c,
        &format!("{base}/upstreams/api/servers/1.2.3.4:5/drain"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.body.contains(&backend.addr().to_string()),
        "{}",
        reply.body
    );
    assert_eq!(get(&c, &format!("{base}/nope")).await.unwrap().status, 404);
    assert_eq!(
        post(&c, &format!("{base}/status"), Some(TOKEN))
            .await
            .status,
        405
    );
}

#[tokio::test]
async fn dashboard_is_served_and_refers_to_nothing_outside() {
    let backend = HttpBackend::start("a").await;
    let (web, admin) = (free_port(), free_port());
    let _lb = start(
        web,
        admin,
        &config(web, admin, None, &[backend.addr()], false),
    )
    .await;
    let reply = get(&client(), &format!("http://127.0.0.1:{admin}/"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let ctype = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let page = reply.body.to_ascii_lowercase();
    assert!(
        page.contains("<script") && page.contains("<style"),
        "inline JS and CSS"
    );
    assert!(
        page.contains("fetch(\"status\""),
        "polls /status on its own origin"
    );
    for outside in [
        "http://", "https://", "src=", "href=", "<link", "@import", "url(", "//cdn", "ws://",
    ] {
        assert!(
            !page.contains(outside),
            "the dashboard refers to something outside: {outside}"
        );
    }
}
