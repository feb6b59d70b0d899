//! Forwarding headers, hop-by-hop stripping and route header rewrites.

use http::{HeaderName, HeaderValue, Request, Response};
use lb_l7::headers::HeaderRewrite;
use lb_l7::{ListenerOptions, UpstreamOptions};
use lb_test_support::HttpBackend;

use crate::support::*;

#[tokio::test]
async fn forwarding_headers_are_added_and_hop_by_hop_stripped() {
    let backend = HttpBackend::start("a").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let req = Request::get("/headers")
        .header("host", "example.com:8080")
        .header("x-forwarded-for", "203.0.113.7")
        .header("connection", "keep-alive, x-secret")
        .header("x-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("x-kept", "yes")
        .body(empty())
        .unwrap();
    let resp = H1::connect(proxy.addr).await.send(req).await;
    assert_eq!(resp.status(), 200);
    let seen = std::str::from_utf8(resp.body()).unwrap();
    for expected in [
        r#""host":"example.com:8080""#,
        r#""x-forwarded-for":"203.0.113.7, 127.0.0.1""#,
        r#""x-forwarded-proto":"http""#,
        r#""x-forwarded-host":"example.com:8080""#,
        r#""x-real-ip":"127.0.0.1""#,
        r#""x-kept":"yes""#,
    ] {
        assert!(seen.contains(expected), "{expected} missing in {seen}");
    }
    for gone in ["x-secret", "keep-alive\":", "proxy-connection"] {
        assert!(!seen.contains(gone), "{gone} forwarded in {seen}");
    }
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_stripped() {
    let backend = FnBackend::start(|_req| async {
        Response::builder()
            .header("connection", "x-internal")
            .header("x-internal", "secret")
            .header("keep-alive", "timeout=5")
            .header("x-public", "1")
            .body(full("ok"))
            .unwrap()
    })
    .await;
    let up = upstream("api", &[backend.addr], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let resp = get(proxy.addr, "/").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-public"], "1");
    assert!(resp.headers().get("x-internal").is_none());
    assert!(resp.headers().get("keep-alive").is_none());
}

#[tokio::test]
async fn route_sets_and_removes_request_and_response_headers() {
    let backend = HttpBackend::start("a").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let mut route = to("api");
    route.request_headers = HeaderRewrite {
        set: vec![(
            HeaderName::from_static("x-env"),
            HeaderValue::from_static("prod"),
        )],
        remove: vec![HeaderName::from_static("x-debug")],
    };
    route.response_headers = HeaderRewrite {
        set: vec![(
            HeaderName::from_static("cache-control"),
            HeaderValue::from_static("public"),
        )],
        remove: vec![HeaderName::from_static("x-backend")],
    };
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![route], &[&up])).await;

    let req = Request::get("/headers")
        .header("host", "example.com")
        .header("x-debug", "1")
        .header("x-env", "dev")
        .body(empty())
        .unwrap();
    let resp = H1::connect(proxy.addr).await.send(req).await;
    let seen = std::str::from_utf8(resp.body()).unwrap();
    assert!(seen.contains(r#""x-env":"prod""#), "{seen}");
    assert!(!seen.contains("x-debug"), "{seen}");
    assert!(!seen.contains(r#""x-env":"dev""#), "{seen}");
    assert_eq!(resp.headers()["cache-control"], "public");
    assert!(resp.headers().get("x-backend").is_none());
}
