//! Error answers: 404 no route, 502 unreachable, 503 none available (also
//! when every server is at its connection limit), 504 route timeout, 431
//! header too large.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use lb_l7::route::PathMatch;
use lb_l7::{ListenerOptions, UpstreamOptions};
use lb_test_support::HttpBackend;
use tokio::sync::Notify;

use crate::support::*;

fn body_text(resp: &http::Response<bytes::Bytes>) -> &str {
    std::str::from_utf8(resp.body()).unwrap()
}

#[tokio::test]
async fn no_matching_route_is_404() {
    let backend = HttpBackend::start("a").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let route = to("api").with_path(PathMatch::Prefix("/api/".into()));
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![route], &[&up])).await;
    let resp = get(proxy.addr, "/other").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(backend.requests(), 0);
}

#[tokio::test]
async fn unreachable_server_is_502_with_short_text() {
    let dead = dead_addr().await;
    let up = upstream("api", &[dead], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;
    let resp = get(proxy.addr, "/").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(body_text(&resp).starts_with("502"), "{:?}", resp.body());
    assert!(
        !body_text(&resp).contains("127.0.0.1"),
        "no addresses in error bodies"
    );
}

#[tokio::test]
async fn no_available_server_is_503() {
    let backend = HttpBackend::start("a").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;
    assert_eq!(get(proxy.addr, "/").await.status(), 200);

    up.balancer().snapshot().endpoints()[0]
        .state()
        .set_unhealthy(true);
    let resp = get(proxy.addr, "/").await;
    assert_eq!(resp.status(), 503);
    assert!(body_text(&resp).starts_with("503"));
    assert_eq!(backend.requests(), 1);
}

#[tokio::test]
async fn servers_at_their_connection_limit_give_503() {
    let release = Arc::new(Notify::new());
    let gate = Arc::clone(&release);
    let backend = FnBackend::start(move |req| {
        let gate = Arc::clone(&gate);
        async move {
            if req.uri().path() == "/hold" {
                gate.notified().await;
            }
            http::Response::new(full("done"))
        }
    })
    .await;
    let mut opts = UpstreamOptions::default();
    opts.max_connections_per_server = 1;
    let up = upstream("api", &[backend.addr], opts);
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let addr = proxy.addr;
    let held = tokio::spawn(async move { get(addr, "/hold").await });
    // Wait (bounded) until the held request is in flight on the server.
    let state = Arc::clone(up.balancer().snapshot().endpoints()[0].state());
    for _ in 0..1000 {
        if state.in_flight() == 1 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(state.in_flight(), 1);
    assert_eq!(get(proxy.addr, "/").await.status(), 503);

    release.notify_one();
    assert_eq!(held.await.unwrap().status(), 200);
    assert_eq!(state.in_flight(), 0, "the guard ended with the body");
    assert_eq!(get(proxy.addr, "/").await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn route_timeout_before_the_response_head_is_504() {
    let backend = HttpBackend::start("slow").await;
    let mut opts = UpstreamOptions::default();
    opts.retry.attempts = 0;
    let up = upstream("api", &[backend.addr()], opts);
    let route = to("api").with_timeout(Duration::from_secs(1));
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![route], &[&up])).await;
    let resp = get(proxy.addr, "/delay/3600000").await;
    assert_eq!(resp.status(), 504);
    assert!(body_text(&resp).starts_with("504"));
}

#[tokio::test]
async fn oversized_request_head_is_431() {
    let backend = HttpBackend::start("a").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let mut opts = ListenerOptions::default();
    opts.max_header_bytes = 16 * 1024;
    let proxy = Proxy::start(opts, routing(vec![to("api")], &[&up])).await;

    let big = "x".repeat(32 * 1024);
    let req = Request::get("/")
        .header("host", "a")
        .header("x-big", &big)
        .body(empty())
        .unwrap();
    let resp = H1::connect(proxy.addr).await.send(req).await;
    assert_eq!(resp.status(), 431);

    let mut h2 = h2c(proxy.addr).await;
    let req = Request::get("http://a/")
        .header("x-big", &big)
        .body(empty())
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 431);

    // Under the limit it goes through.
    let ok = "x".repeat(8 * 1024);
    let req = Request::get("/")
        .header("host", "a")
        .header("x-big", &ok)
        .body(empty())
        .unwrap();
    assert_eq!(H1::connect(proxy.addr).await.send(req).await.status(), 200);
    assert_eq!(backend.requests(), 1);
}
