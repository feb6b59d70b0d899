//! Retries: to another server, only before the request body started to
//! flow, counted per upstream.

use http::Request;
use lb_l7::{ListenerOptions, UpstreamOptions};
use lb_test_support::HttpBackend;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::support::*;

#[tokio::test]
async fn failed_connects_are_retried_on_another_server() {
    let dead = dead_addr().await;
    let live = HttpBackend::start("live").await;
    // Round robin starts with the dead server, and keeps coming back to it.
    let up = upstream("api", &[dead, live.addr()], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let mut client = H1::connect(proxy.addr).await;
    for _ in 0..6 {
        let resp = client.get("/").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(backend_name(&resp), "live");
    }
    assert_eq!(live.requests(), 6);
    assert!(up.retries() >= 3, "retries: {}", up.retries());

    // A body that was not sent yet is sent on the retry.
    let req = Request::post("/echo")
        .header("host", "x")
        .body(full("payload"))
        .unwrap();
    let resp = client.send(req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(&resp.body()[..], b"payload");
}

#[tokio::test]
async fn without_retries_a_failed_connect_is_502() {
    let dead = dead_addr().await;
    let live = HttpBackend::start("live").await;
    let mut opts = UpstreamOptions::default();
    opts.retry.attempts = 0;
    let up = upstream("api", &[dead, live.addr()], opts);
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;
    assert_eq!(get(proxy.addr, "/").await.status(), 502);
    assert_eq!(up.retries(), 0);
    assert_eq!(live.requests(), 0);
}

#[tokio::test]
async fn a_request_whose_body_started_is_not_retried() {
    // A server that reads the head and, if the request has a body, at least
    // one byte of it, then drops the connection.
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resetter = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = tcp.accept().await else {
                return;
            };
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let has_body =
                    head.contains("content-length") || head.contains("transfer-encoding");
                if !has_body || seen.len() > end + 4 {
                    break;
                }
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            drop(s);
        }
    });
    let live = HttpBackend::start("live").await;
    let up = upstream("api", &[resetter, live.addr()], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let body = vec![b'x'; 1024 * 1024];
    let req = Request::post("/echo")
        .header("host", "x")
        .body(full(body))
        .unwrap();
    let resp = H1::connect(proxy.addr).await.send(req).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(live.requests(), 0, "not retried once the body flowed");
    assert_eq!(up.retries(), 0);

    // The same failure without a body is retried (round robin sends one of
    // these two to the resetting server first).
    for _ in 0..2 {
        let resp = get(proxy.addr, "/").await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(live.requests(), 2);
    assert_eq!(up.retries(), 1);
}

#[tokio::test]
async fn a_5xx_is_retried_only_when_configured() {
    let bad = HttpBackend::start("bad").await;
    bad.set_status(503);
    let good = HttpBackend::start("good").await;

    let up = upstream(
        "api",
        &[bad.addr(), good.addr()],
        UpstreamOptions::default(),
    );
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;
    let resp = get(proxy.addr, "/").await;
    assert_eq!((resp.status().as_u16(), backend_name(&resp)), (503, "bad"));

    let mut opts = UpstreamOptions::default();
    opts.retry.on_5xx = true;
    let up = upstream("api", &[bad.addr(), good.addr()], opts);
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;
    let resp = get(proxy.addr, "/").await;
    assert_eq!((resp.status().as_u16(), backend_name(&resp)), (200, "good"));
    assert_eq!(up.retries(), 1);
}
