//! Sticky cookie: set on first answer, honoured, re-issued when its server
//! is gone.

use std::time::Duration;

use http::Request;
use lb_l7::{ListenerOptions, StickyOptions, UpstreamOptions};
use lb_test_support::HttpBackend;

use crate::support::*;

fn cookie_of(resp: &http::Response<bytes::Bytes>) -> Option<String> {
    let v = resp.headers().get("set-cookie")?.to_str().unwrap();
    Some(v.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn sticky_cookie_is_set_honoured_and_reissued_after_its_server_dies() {
    let a = named_backend("a").await;
    let b = named_backend("b").await;
    let names = [(a.addr, "a"), (b.addr, "b")];
    let mut opts = UpstreamOptions::default();
    opts.sticky = Some(StickyOptions::new("lb_srv", Duration::from_secs(3600)));
    let up = upstream("api", &[a.addr, b.addr], opts);
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;
    let mut client = H1::connect(proxy.addr).await;

    let first = client.get("/").await;
    let set = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("Max-Age=3600") && set.contains("Path=/"),
        "{set}"
    );
    for (addr, _) in names {
        assert!(
            !set.contains(&addr.port().to_string()),
            "the cookie hides the address: {set}"
        );
    }
    let cookie = cookie_of(&first).unwrap();
    let chosen = backend_name(&first).to_owned();

    // Honoured: round robin alone would alternate.
    for _ in 0..6 {
        let req = Request::get("/")
            .header("host", "x")
            .header("cookie", &cookie)
            .body(empty())
            .unwrap();
        let resp = client.send(req).await;
        assert_eq!(backend_name(&resp), chosen);
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "no new cookie while it holds"
        );
    }

    // Its server dies: the request lands on the other one, with a new cookie.
    let (dead, other) = if chosen == "a" { (a, b) } else { (b, a) };
    let other_name = names
        .iter()
        .find(|(addr, _)| *addr == other.addr)
        .unwrap()
        .1;
    drop(dead);
    let req = Request::get("/")
        .header("host", "x")
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let resp = H1::connect(proxy.addr).await.send(req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(backend_name(&resp), other_name);
    let renewed = cookie_of(&resp).expect("re-issued");
    assert_ne!(renewed, cookie);

    // The new cookie holds without being re-issued.
    let req = Request::get("/")
        .header("host", "x")
        .header("cookie", &renewed)
        .body(empty())
        .unwrap();
    let resp = H1::connect(proxy.addr).await.send(req).await;
    assert_eq!(backend_name(&resp), other_name);
    assert!(resp.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn sticky_cookie_is_ignored_while_its_server_is_unavailable() {
    let a = HttpBackend::start("a").await;
    let b = HttpBackend::start("b").await;
    let mut opts = UpstreamOptions::default();
    opts.sticky = Some(StickyOptions::new("lb_srv", Duration::ZERO));
    let up = upstream("api", &[a.addr(), b.addr()], opts);
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let first = get(proxy.addr, "/").await;
    let cookie = cookie_of(&first).unwrap();
    assert!(!first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age"));
    let chosen = backend_name(&first).to_owned();
    let idx = usize::from(chosen == "b");
    up.balancer().snapshot().endpoints()[idx]
        .state()
        .set_draining(true);

    let req = Request::get("/")
        .header("host", "x")
        .header("cookie", &cookie)
        .body(empty())
        .unwrap();
    let resp = H1::connect(proxy.addr).await.send(req).await;
    assert_ne!(backend_name(&resp), chosen);
    assert!(cookie_of(&resp).is_some_and(|c| c != cookie));
}
