//! The `Observer` hook: one record per request with what metrics and
//! access logs need.

use std::sync::{Arc, Mutex};

use http::Request;
use lb_l7::{ListenerOptions, Observer, RequestRecord, UpstreamOptions};
use lb_test_support::HttpBackend;

use crate::support::*;

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    listener: String,
    route: Option<usize>,
    upstream: Option<String>,
    server: Option<String>,
    status: u16,
    method: String,
    host: String,
    path: String,
    bytes_in: u64,
    bytes_out: u64,
}

#[derive(Default)]
struct Collect(Mutex<Vec<Seen>>);

impl Observer for Collect {
    fn on_request(&self, r: &RequestRecord<'_>) {
        self.0.lock().unwrap().push(Seen {
            listener: r.listener.to_owned(),
            route: r.route,
            upstream: r.upstream.map(str::to_owned),
            server: r.server.map(str::to_owned),
            status: r.status,
            method: r.method.to_string(),
            host: r.host.to_owned(),
            path: r.path.to_owned(),
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
        });
    }
}

#[tokio::test]
async fn each_request_is_recorded_once_when_its_body_ends() {
    let backend = HttpBackend::start("a").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let collect = Arc::new(Collect::default());
    let proxy = Proxy::start_with(
        ListenerOptions::default(),
        routing(
            vec![to("api").with_path(lb_l7::route::PathMatch::Prefix("/e".into()))],
            &[&up],
        ),
        Some(collect.clone() as Arc<dyn Observer>),
    )
    .await;

    let mut client = H1::connect(proxy.addr).await;
    let req = Request::post("/echo?x=1")
        .header("host", "example.com")
        .body(full("12345"))
        .unwrap();
    assert_eq!(client.send(req).await.status(), 200);
    assert_eq!(client.get("/nowhere").await.status(), 404);

    let seen = collect.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        Seen {
            listener: "web".into(),
            route: Some(0),
            upstream: Some("api".into()),
            server: Some(backend.addr().to_string()),
            status: 200,
            method: "POST".into(),
            host: "example.com".into(),
            path: "/echo".into(),
            bytes_in: 5,
            bytes_out: 5,
        }
    );
    assert_eq!(
        (seen[1].status, seen[1].route, seen[1].upstream.as_deref()),
        (404, None, None)
    );
    assert_eq!(seen[1].bytes_out, "404 not found: no route\n".len() as u64);
}
