//! Weighted split between upstreams, and h2c from clients.

use http::{Request, Version};
use lb_l7::route::{RouteSpec, Target};
use lb_l7::{ListenerOptions, UpstreamOptions};
use lb_test_support::HttpBackend;

use crate::support::*;

/// 95/5 over 1000 requests: the canary count is Binomial(1000, 0.05), mean
/// 50 and standard deviation 6.9; [16, 84] is ±5 σ, so a correct split
/// fails this about once in 1.7 million runs, while a split that ignored
/// the weights (500) or inverted them (950) cannot pass.
#[tokio::test]
async fn split_95_5_sends_about_5_percent_to_the_canary() {
    let (api, canary) = (
        HttpBackend::start("api").await,
        HttpBackend::start("canary").await,
    );
    let up_api = upstream("api", &[api.addr()], UpstreamOptions::default());
    let up_canary = upstream("canary", &[canary.addr()], UpstreamOptions::default());
    let route = RouteSpec::new(Target::Split(vec![
        ("api".into(), 95),
        ("canary".into(), 5),
    ]));
    let proxy = Proxy::start(
        ListenerOptions::default(),
        routing(vec![route], &[&up_api, &up_canary]),
    )
    .await;

    let mut client = H1::connect(proxy.addr).await;
    let mut to_canary = 0;
    for _ in 0..1000 {
        let resp = client.get("/").await;
        assert_eq!(resp.status(), 200);
        if backend_name(&resp) == "canary" {
            to_canary += 1;
        }
    }
    assert_eq!(api.requests() + canary.requests(), 1000);
    assert!(
        (16..=84).contains(&to_canary),
        "canary got {to_canary} of 1000"
    );
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served_on_the_plain_port() {
    let backend = HttpBackend::start("a").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let mut h2 = h2c(proxy.addr).await;
    let req = Request::get("http://example.com/headers")
        .body(empty())
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let seen = std::str::from_utf8(&body).unwrap();
    // The HTTP/1.1 server got the :authority as Host.
    assert!(seen.contains(r#""host":"example.com""#), "{seen}");
    // And an HTTP/1.1 client still works on the same port.
    assert_eq!(get(proxy.addr, "/").await.status(), 200);
}
