//! Header rewrite, forwarding headers and hop-by-hop stripping: functions and tower layers.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use http::header::{CONNECTION, HOST, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use lb_l7::headers::{
    apply_forwarded, strip_hop_by_hop, Forwarded, ForwardedHeadersLayer, HeaderRewrite,
    HeaderRewriteLayer, HopByHopLayer,
};
use tower::{service_fn, Layer, ServiceExt};

fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

fn values<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn rewrite_sets_replacing_all_values_and_removes() {
    let rewrite = HeaderRewrite {
        set: vec![
            (
                HeaderName::from_static("x-env"),
                HeaderValue::from_static("prod"),
            ),
            (
                HeaderName::from_static("cache-control"),
                HeaderValue::from_static("public, max-age=60"),
            ),
        ],
        remove: vec![
            HeaderName::from_static("x-debug"),
            HeaderName::from_static("x-absent"),
        ],
    };
    let mut h = map(&[
        ("x-env", "dev"),
        ("x-env", "qa"),
        ("x-debug", "1"),
        ("x-debug", "2"),
        ("x-keep", "k"),
    ]);
    rewrite.apply(&mut h);
    assert_eq!(values(&h, "x-env"), ["prod"]);
    assert_eq!(values(&h, "cache-control"), ["public, max-age=60"]);
    assert!(!h.contains_key("x-debug"));
    assert_eq!(values(&h, "x-keep"), ["k"]);
    assert_eq!(h.len(), 3);
}

#[test]
fn rewrite_removes_before_setting() {
    let name = HeaderName::from_static("x-env");
    let rewrite = HeaderRewrite {
        set: vec![(name.clone(), HeaderValue::from_static("prod"))],
        remove: vec![name],
    };
    let mut h = map(&[("x-env", "dev")]);
    rewrite.apply(&mut h);
    assert_eq!(values(&h, "x-env"), ["prod"]);
    let mut untouched = map(&[("a", "1")]);
    HeaderRewrite::default().apply(&mut untouched);
    assert_eq!(untouched, map(&[("a", "1")]));
}

#[test]
fn forwarded_headers_append_to_an_existing_xff() {
    let mut h = map(&[
        ("host", "example.com:8443"),
        ("x-forwarded-for", "203.0.113.1"),
        ("x-forwarded-for", "198.51.100.2, 198.51.100.3"),
        ("x-forwarded-proto", "gopher"),
        ("x-real-ip", "6.6.6.6"),
    ]);
    let fwd = Forwarded {
        client_ip: "10.0.0.7".parse().unwrap(),
        proto: "https",
        host: Some(HeaderValue::from_static("example.com:8443")),
    };
    apply_forwarded(&mut h, &fwd);
    assert_eq!(
        values(&h, "x-forwarded-for"),
        ["203.0.113.1, 198.51.100.2, 198.51.100.3, 10.0.0.7"]
    );
    assert_eq!(values(&h, "x-forwarded-proto"), ["https"]);
    assert_eq!(values(&h, "x-forwarded-host"), ["example.com:8443"]);
    assert_eq!(values(&h, "x-real-ip"), ["10.0.0.7"]);
    assert_eq!(values(&h, "host"), ["example.com:8443"], "Host is kept");
}

#[test]
fn forwarded_headers_without_earlier_hops_or_host() {
    let mut h = map(&[
        ("x-forwarded-for", " "),
        ("x-forwarded-host", "spoofed.example"),
    ]);
    let fwd = Forwarded {
        client_ip: "2001:db8::1".parse().unwrap(),
        proto: "http",
        host: None,
    };
    apply_forwarded(&mut h, &fwd);
    assert_eq!(values(&h, "x-forwarded-for"), ["2001:db8::1"]);
    assert_eq!(values(&h, "x-real-ip"), ["2001:db8::1"]);
    assert_eq!(values(&h, "x-forwarded-proto"), ["http"]);
    assert!(
        !h.contains_key("x-forwarded-host"),
        "a client-supplied X-Forwarded-Host is not passed on"
    );
}

#[test]
fn hop_by_hop_headers_are_stripped_including_those_named_in_connection() {
    let mut h = map(&[
        ("connection", "keep-alive, X-Private"),
        ("connection", "x-other , close"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("te", "gzip"),
        ("trailer", "x-checksum"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("x-private", "secret"),
        ("x-other", "1"),
        ("host", "example.com"),
        ("content-type", "text/plain"),
        ("x-forwarded-for", "203.0.113.1"),
    ]);
    strip_hop_by_hop(&mut h);
    let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, ["content-type", "host", "x-forwarded-for"]);
}

#[test]
fn te_trailers_is_kept_and_host_survives_being_named() {
    // A sender of TE names it in Connection (RFC 9110 §10.1.4); "trailers" must still pass.
    let mut h = map(&[
        ("connection", "TE, host"),
        ("te", "deflate;q=0.5, Trailers"),
        ("host", "a.example"),
    ]);
    strip_hop_by_hop(&mut h);
    assert_eq!(values(&h, "te"), ["trailers"]);
    assert_eq!(values(&h, "host"), ["a.example"]);
    assert!(!h.contains_key("connection"));
    let mut h = map(&[("te", "gzip, deflate")]);
    strip_hop_by_hop(&mut h);
    assert!(!h.contains_key("te"));
}

#[tokio::test]
async fn hop_by_hop_layer_strips_both_ways_and_keeps_upgrades_working() {
    let svc = HopByHopLayer::new().layer(service_fn(|req: Request<()>| async move {
        let h = req.headers();
        let is_upgrade = h.contains_key(UPGRADE);
        if is_upgrade {
            assert_eq!(h[CONNECTION], "upgrade");
            assert_eq!(h[UPGRADE], "websocket");
        } else {
            assert!(!h.contains_key(CONNECTION));
        }
        assert!(!h.contains_key("keep-alive") && !h.contains_key("x-private"));
        let mut res = Response::builder()
            .header("connection", "upgrade, x-backend")
            .header("upgrade", "websocket")
            .header("x-backend", "b1")
            .header("keep-alive", "timeout=5")
            .header("x-kept", "1");
        if is_upgrade {
            res = res.status(StatusCode::SWITCHING_PROTOCOLS);
        }
        Ok::<_, Infallible>(res.body(()).unwrap())
    }));

    let ws = Request::get("/ws")
        .header("connection", "keep-alive, Upgrade, x-private")
        .header("upgrade", "websocket")
        .header("keep-alive", "1")
        .header("x-private", "p")
        .body(())
        .unwrap();
    let res = svc.clone().oneshot(ws).await.unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(res.headers()[CONNECTION], "upgrade");
    assert_eq!(res.headers()[UPGRADE], "websocket");
    assert!(!res.headers().contains_key("x-backend") && !res.headers().contains_key("keep-alive"));

    let plain = Request::get("/")
        .header("connection", "x-private")
        .header("x-private", "p")
        .body(())
        .unwrap();
    let res = svc.oneshot(plain).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let left: Vec<&str> = res.headers().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        left,
        ["x-kept"],
        "a non-101 response loses its upgrade offer too"
    );
}

#[tokio::test]
async fn hop_by_hop_layer_does_not_forward_an_h2c_upgrade() {
    let svc = HopByHopLayer::new().layer(service_fn(|req: Request<()>| async move {
        assert!(!req.headers().contains_key(UPGRADE) && !req.headers().contains_key(CONNECTION));
        assert!(!req.headers().contains_key("http2-settings"));
        Ok::<_, Infallible>(Response::new(()))
    }));
    let req = Request::get("/")
        .header("connection", "Upgrade, HTTP2-Settings")
        .header("upgrade", "h2c")
        .header("http2-settings", "AAMAAABkAAQAAP__")
        .body(())
        .unwrap();
    svc.oneshot(req).await.unwrap();
}

#[tokio::test]
async fn forwarded_layer_uses_host_or_authority() {
    let layer = ForwardedHeadersLayer::new("192.0.2.9".parse().unwrap(), "https");
    let svc = layer.layer(service_fn(|req: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(req.headers().clone()))
    }));
    let h1 = Request::get("/")
        .header(HOST, "site.example:8080")
        .header("x-forwarded-for", "1.2.3.4")
        .body(())
        .unwrap();
    let seen = svc.clone().oneshot(h1).await.unwrap().into_body();
    assert_eq!(values(&seen, "x-forwarded-for"), ["1.2.3.4, 192.0.2.9"]);
    assert_eq!(values(&seen, "x-forwarded-host"), ["site.example:8080"]);
    assert_eq!(values(&seen, "x-forwarded-proto"), ["https"]);
    assert_eq!(values(&seen, "x-real-ip"), ["192.0.2.9"]);
    assert_eq!(values(&seen, "host"), ["site.example:8080"]);

    let h2 = Request::get("https://user@h2.example:8443/x")
        .body(())
        .unwrap();
    let seen = svc.oneshot(h2).await.unwrap().into_body();
    assert_eq!(values(&seen, "x-forwarded-host"), ["h2.example:8443"]);
    assert!(!seen.contains_key(HOST), "no Host is invented");
}

#[tokio::test]
async fn rewrite_layer_changes_requests_and_responses() {
    let layer = HeaderRewriteLayer::new(
        HeaderRewrite {
            set: vec![(
                HeaderName::from_static("x-env"),
                HeaderValue::from_static("prod"),
            )],
            remove: vec![HeaderName::from_static("x-debug")],
        },
        HeaderRewrite {
            set: vec![(
                HeaderName::from_static("cache-control"),
                HeaderValue::from_static("no-store"),
            )],
            remove: vec![HeaderName::from_static("server")],
        },
    );
    let svc = layer.layer(service_fn(|req: Request<()>| async move {
        assert_eq!(req.headers()["x-env"], "prod");
        assert!(!req.headers().contains_key("x-debug"));
        let res = Response::builder()
            .header("server", "backend/1.0")
            .header("cache-control", "public");
        Ok::<_, Infallible>(res.body(()).unwrap())
    }));
    let req = Request::get("/")
        .header("x-debug", "1")
        .header("x-env", "dev")
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(values(res.headers(), "cache-control"), ["no-store"]);
    assert!(!res.headers().contains_key("server"));
}
