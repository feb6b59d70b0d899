//! TLS termination (SNI, ALPN) and TLS towards servers.

use std::sync::Arc;

use http::{Request, Response, Version};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lb_l7::tls::{self, CertSpec};
use lb_l7::{ListenerOptions, UpstreamOptions, UpstreamProtocol, UpstreamTls};
use lb_test_support::HttpBackend;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::*;

fn client_config(pki: &TestPki, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

#[tokio::test]
async fn sni_picks_the_certificate_and_alpn_negotiates_h2() {
    let pki = TestPki::new();
    let (a_cert, a_key, a_der) = pki.leaf("a", &["a.test"]);
    let (b_cert, b_key, b_der) = pki.leaf("b", &["*.b.test"]);
    let server = tls::server_config(&[
        CertSpec::new(vec!["a.test".into()], a_cert, a_key),
        CertSpec::new(vec!["*.b.test".into()], b_cert, b_key),
    ])
    .unwrap();
    let backend = HttpBackend::start("app").await;
    let up = upstream("api", &[backend.addr()], UpstreamOptions::default());
    let mut opts = ListenerOptions::default();
    opts.tls = Some(server);
    let proxy = Proxy::start(opts, routing(vec![to("api")], &[&up])).await;

    // a.test over h2 (ALPN offers h2 first).
    let connector = TlsConnector::from(client_config(&pki, &[b"h2", b"http/1.1"]));
    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("a.test").unwrap(), tcp)
        .await
        .unwrap();
    let (_, conn) = stream.get_ref();
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(conn.peer_certificates().unwrap()[0], a_der);
    let (mut h2, c) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(c);
    let resp = h2
        .send_request(
            Request::get("https://a.test/headers")
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let seen = std::str::from_utf8(&body).unwrap();
    assert!(seen.contains(r#""x-forwarded-proto":"https""#), "{seen}");

    // www.b.test over HTTP/1.1 gets the wildcard certificate.
    let connector = TlsConnector::from(client_config(&pki, &[b"http/1.1"]));
    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("www.b.test").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(stream.get_ref().1.peer_certificates().unwrap()[0], b_der);
    let (mut h1, c) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(c);
    let resp = h1
        .send_request(
            Request::get("/")
                .header("host", "www.b.test")
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(backend.requests(), 2);
}

#[tokio::test]
async fn http2_upstream_over_tls_uses_server_name_ca_and_alpn() {
    let pki = TestPki::new();
    let (cert, key, _) = pki.leaf("backend", &["backend.test"]);
    let server = tls::server_config(&[CertSpec::new(vec![], cert, key)]).unwrap();
    let backend = FnBackend::start_tls(
        |req| async move {
            let v = format!("{:?}", req.version());
            Response::new(full(v))
        },
        server,
    )
    .await;
    let mut opts = UpstreamOptions::default();
    opts.protocol = UpstreamProtocol::Http2;
    let client = tls::client_config(Some(&pki.ca_pem), None, true).unwrap();
    opts.tls = Some(UpstreamTls::new("backend.test", client).unwrap());
    let up = upstream("api", &[backend.addr], opts);
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    let mut h1 = H1::connect(proxy.addr).await;
    for _ in 0..3 {
        let resp = h1.get("/").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(&resp.body()[..], b"HTTP/2.0");
    }
    assert_eq!(backend.connections(), 1, "one multiplexed TLS connection");

    // A wrong server name fails verification: 502.
    let mut opts = UpstreamOptions::default();
    let client = tls::client_config(Some(&pki.ca_pem), None, false).unwrap();
    opts.tls = Some(UpstreamTls::new("other.test", client).unwrap());
    opts.retry.attempts = 0;
    let bad = upstream("bad", &[backend.addr], opts);
    let proxy = Proxy::start(
        ListenerOptions::default(),
        routing(vec![to("bad")], &[&bad]),
    )
    .await;
    assert_eq!(get(proxy.addr, "/").await.status(), 502);
}
