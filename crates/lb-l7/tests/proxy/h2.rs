//! HTTP/2 towards servers: per-request balancing over multiplexed
//! connections, and trailers (gRPC) passing through.

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use lb_l7::{ListenerOptions, UpstreamOptions, UpstreamProtocol};

use crate::support::*;

fn http2() -> UpstreamOptions {
    let mut opts = UpstreamOptions::default();
    opts.protocol = UpstreamProtocol::Http2;
    opts
}

async fn named(name: &'static str) -> FnBackend {
    FnBackend::start(move |req| async move {
        assert_eq!(
            req.version(),
            http::Version::HTTP_2,
            "the server is spoken to in h2"
        );
        Response::builder()
            .header("x-backend", name)
            .body(full(name))
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn streams_of_one_client_connection_spread_over_two_http2_servers() {
    let (a, b) = (named("a").await, named("b").await);
    let up = upstream("grpc", &[a.addr, b.addr], http2());
    let proxy = Proxy::start(
        ListenerOptions::default(),
        routing(vec![to("grpc")], &[&up]),
    )
    .await;

    let h2 = h2c(proxy.addr).await;
    let calls = (0..40).map(|_| {
        let mut h2 = h2.clone();
        async move {
            let req = Request::post("http://svc.test/pkg.Service/Call")
                .body(full("x"))
                .unwrap();
            let resp = h2.send_request(req).await.unwrap();
            resp.headers()["x-backend"].to_str().unwrap().to_owned()
        }
    });
    let names = futures_util::future::join_all(calls).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for n in names {
        *counts.entry(n).or_default() += 1;
    }
    // Round robin per request: exactly half each, on one connection each.
    assert_eq!(counts.get("a"), Some(&20), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&20), "{counts:?}");
    assert_eq!((a.connections(), b.connections()), (1, 1));
}

#[tokio::test]
async fn grpc_style_trailers_pass_through() {
    let backend = FnBackend::start(|req| async move {
        let te = req.headers().get("te").cloned();
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        trailers.insert("grpc-message", HeaderValue::from_static("ok"));
        if let Some(te) = te {
            trailers.insert("x-seen-te", te);
        }
        let frames: Vec<Result<Frame<Bytes>, hyper::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x02hi"))),
            Ok(Frame::trailers(trailers)),
        ];
        let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
        Response::builder()
            .header("content-type", "application/grpc")
            .body(body)
            .unwrap()
    })
    .await;
    let up = upstream("grpc", &[backend.addr], http2());
    let proxy = Proxy::start(
        ListenerOptions::default(),
        routing(vec![to("grpc")], &[&up]),
    )
    .await;

    let mut h2 = h2c(proxy.addr).await;
    let req = Request::post("http://svc.test/pkg.Service/Call")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(full(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers arrive");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "ok");
    assert_eq!(
        trailers["x-seen-te"], "trailers",
        "te: trailers reaches the server"
    );
    assert_eq!(&collected.to_bytes()[..], b"\0\0\0\0\x02hi");
}
