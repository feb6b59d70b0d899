//! Issue 6 through the real binary: routing (each matcher and first-match
//! order), a 95/5 split, header rewrites, forwarding headers and hop-by-hop
//! stripping, TLS with two SNI certificates and ALPN h2, h2c from clients,
//! HTTP/2 upstreams (many streams spread, gRPC-style trailers), WebSocket
//! tunnelling, the sticky cookie, retries, error statuses and a large
//! streamed body with flat memory.

mod support_e2e;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lb_e2e::{client, eventually, free_port, get, request, GateBackend, LbServer, WAIT};
use lb_test_support::HttpBackend;
use rustls_pki_types::{CertificateDer, ServerName};
use support_e2e::{local, raw_exchange, read_until, vm_kib, wait_state};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

/// `[upstreams.NAME]` with one server.
fn upstream(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!("[upstreams.{name}]\nservers = [{{ addr = \"{addr}\" }}]\n{extra}\n")
}

/// A listener on `port` with `routes` (TOML route tables, in order).
fn listener(port: u16, routes: &[&str]) -> String {
    let mut out = format!("[listeners.web]\nbind = \"127.0.0.1:{port}\"\nprotocol = \"http\"\n");
    for r in routes {
        out.push_str(&format!("[[listeners.web.routes]]\n{r}\n"));
    }
    out
}

/// Parse the JSON of the test backend's `/headers` route.
fn headers_json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A routing case: host, method, path, extra headers, expected upstream.
type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_matcher_routes_and_the_first_match_wins() -> anyhow::Result<()> {
    let names = [
        "exact", "wild", "pexact", "regex", "post", "canary", "any", "prefix", "fallback",
    ];
    let mut backends = Vec::new();
    for n in names {
        backends.push(HttpBackend::start(n).await);
    }
    let port = free_port();
    let routes = [
        r#"host = "exact.test"
upstream = "exact""#,
        r#"host = "*.wild.test"
upstream = "wild""#,
        r#"path_exact = "/exact"
upstream = "pexact""#,
        r#"path_regex = "^/re/[0-9]+$"
upstream = "regex""#,
        r#"path_prefix = "/m/"
methods = ["POST", "PUT"]
upstream = "post""#,
        r#"path_prefix = "/h/"
headers = { "x-canary" = "true" }
upstream = "canary""#,
        r#"path_prefix = "/h/"
headers = { "x-any" = "*" }
upstream = "any""#,
        r#"path_prefix = "/p/"
upstream = "prefix""#,
        r#"path_prefix = "/"
upstream = "fallback""#,
    ];
    let mut config = listener(port, &routes);
    for b in &backends {
        config.push_str(&upstream(b.name(), b.addr(), ""));
    }
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let http = client();
    // (host, method, path, headers) → upstream.
    let cases: [Case<'_>; 19] = [
        ("exact.test", "GET", "/exact", &[], "exact"), // host before path_exact
        ("EXACT.test:8080", "GET", "/p/x", &[], "exact"), // case and port ignored
        ("a.wild.test", "GET", "/p/x", &[], "wild"),   // wildcard before prefix
        ("x.y.wild.test", "GET", "/", &[], "wild"),
        ("wild.test", "GET", "/p/x", &[], "prefix"), // "*." needs a label
        ("other.test", "GET", "/exact", &[], "pexact"),
        ("other.test", "GET", "/exact/", &[], "fallback"),
        ("other.test", "GET", "/re/123", &[], "regex"),
        ("other.test", "GET", "/re/12a", &[], "fallback"),
        ("other.test", "POST", "/m/x", &[], "post"),
        ("other.test", "PUT", "/m/x", &[], "post"),
        ("other.test", "GET", "/m/x", &[], "fallback"),
        (
            "other.test",
            "GET",
            "/h/x",
            &[("x-canary", "true")],
            "canary",
        ),
        (
            "other.test",
            "GET",
            "/h/x",
            &[("x-canary", "false")],
            "fallback",
        ),
        ("other.test", "GET", "/h/x", &[("x-any", "whatever")], "any"),
        (
            "other.test",
            "GET",
            "/h/x",
            &[("x-any", "1"), ("x-canary", "true")],
            "canary", // both match: the earlier route wins
        ),
        ("other.test", "GET", "/p/x", &[], "prefix"),
        ("other.test", "GET", "/px", &[], "fallback"),
        ("other.test", "DELETE", "/anything", &[], "fallback"),
    ];
    for (host, method, path, headers, want) in cases {
        let mut h = vec![("host", host)];
        h.extend_from_slice(headers);
        let r = request(&http, method, &format!("http://127.0.0.1:{port}{path}"), &h).await?;
        assert_eq!(
            (r.status, r.backend().as_str()),
            (200, want),
            "{method} {host}{path} {headers:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_95_5_split_sends_about_5_percent_to_the_canary() -> anyhow::Result<()> {
    let (main, canary) = (
        HttpBackend::start("main").await,
        HttpBackend::start("canary").await,
    );
    let port = free_port();
    let mut config = listener(
        port,
        &[r#"path_prefix = "/"
split = { main = 95, canary = 5 }"#],
    );
    config.push_str(&upstream("main", main.addr(), ""));
    config.push_str(&upstream("canary", canary.addr(), ""));
    let _lb = LbServer::start(&config, &[local(port)]).await?;

    // The split draws a random number per request. Over N = 2000 requests
    // the canary count is Binomial(2000, 0.05): mean 100, standard deviation
    // sqrt(2000 * 0.05 * 0.95) ≈ 9.75. Accepting 50..=150 (±5.1 σ) fails a
    // correct split with probability < 1e-6, and still fails a 90/10 split
    // (mean 200) or a 99/1 split (mean 20) essentially always.
    const N: u64 = 2000;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let http = client();
        tasks.push(tokio::spawn(async move {
            for _ in 0..N / 4 {
                let r = get(&http, &format!("http://127.0.0.1:{port}/")).await?;
                anyhow::ensure!(r.status == 200, "{r:?}");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    assert_eq!(main.requests() + canary.requests(), N);
    let c = canary.requests();
    assert!((50..=150).contains(&c), "canary got {c} of {N}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_headers_are_set_and_removed() -> anyhow::Result<()> {
    let app = HttpBackend::start("app").await;
    let port = free_port();
    let mut config = listener(
        port,
        &[r#"path_prefix = "/"
upstream = "app"
request_headers = { set = { "x-env" = "prod" }, remove = ["x-debug"] }
response_headers = { set = { "cache-control" = "public, max-age=60" }, remove = ["x-backend"] }"#],
    );
    config.push_str(&upstream("app", app.addr(), ""));
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let r = request(
        &client(),
        "GET",
        &format!("http://127.0.0.1:{port}/headers"),
        &[("x-debug", "1"), ("x-env", "dev"), ("x-keep", "yes")],
    )
    .await?;
    assert_eq!(r.status, 200);
    let seen = headers_json(&r.body);
    assert_eq!(seen["x-env"], "prod", "{seen}");
    assert!(!r.body.contains("dev"), "set replaces: {seen}");
    assert_eq!(seen["x-keep"], "yes", "{seen}");
    assert!(seen.get("x-debug").is_none(), "{seen}");
    assert_eq!(
        r.headers.get("cache-control"),
        Some(&HeaderValue::from_static("public, max-age=60"))
    );
    assert!(r.headers.get("x-backend").is_none(), "{:?}", r.headers);
    assert_eq!(app.requests(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_added_and_hop_by_hop_headers_stripped() -> anyhow::Result<()> {
    let app = HttpBackend::start("app").await;
    let port = free_port();
    let mut config = listener(port, &["path_prefix = \"/\"\nupstream = \"app\""]);
    config.push_str(&upstream("app", app.addr(), ""));
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let out = raw_exchange(
        port,
        b"GET /headers HTTP/1.1\r\n\
          Host: app.test:8080\r\n\
          X-Forwarded-For: 203.0.113.7\r\n\
          X-Real-IP: 198.51.100.1\r\n\
          Connection: close, x-secret\r\n\
          X-Secret: 1\r\n\
          Keep-Alive: timeout=5\r\n\
          Proxy-Connection: keep-alive\r\n\
          X-Kept: yes\r\n\r\n",
    )
    .await?;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let seen = headers_json(out.split("\r\n\r\n").nth(1).unwrap_or_default());
    assert_eq!(seen["host"], "app.test:8080", "Host is kept: {seen}");
    assert_eq!(seen["x-forwarded-for"], "203.0.113.7, 127.0.0.1", "{seen}");
    assert_eq!(seen["x-forwarded-proto"], "http", "{seen}");
    assert_eq!(seen["x-forwarded-host"], "app.test:8080", "{seen}");
    assert_eq!(
        seen["x-real-ip"], "127.0.0.1",
        "the peer, not the client's claim"
    );
    assert_eq!(seen["x-kept"], "yes", "{seen}");
    for gone in ["x-secret", "keep-alive", "proxy-connection"] {
        assert!(seen.get(gone).is_none(), "{gone} must be stripped: {seen}");
    }
    let connection = seen["connection"].as_str().unwrap_or_default();
    assert!(!connection.contains("x-secret"), "{seen}");
    Ok(())
}

/// A server whose responses carry hop-by-hop headers (and one named in
/// `Connection`) next to an end-to-end one.
async fn hop_by_hop_backend() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req: Request<Incoming>| async {
                    let mut resp = Response::new(Full::new(Bytes::from_static(b"hop")));
                    let h = resp.headers_mut();
                    h.insert("connection", HeaderValue::from_static("x-internal"));
                    h.insert("x-internal", HeaderValue::from_static("secret"));
                    h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
                    h.insert("x-public", HeaderValue::from_static("yes"));
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_of_a_response_are_stripped() -> anyhow::Result<()> {
    let (addr, backend) = hop_by_hop_backend().await?;
    let port = free_port();
    let mut config = listener(port, &["path_prefix = \"/\"\nupstream = \"hop\""]);
    config.push_str(&upstream("hop", addr, ""));
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let r = get(&client(), &format!("http://127.0.0.1:{port}/")).await?;
    assert_eq!((r.status, r.body.as_str()), (200, "hop"));
    assert_eq!(
        r.headers.get("x-public"),
        Some(&HeaderValue::from_static("yes"))
    );
    for gone in ["x-internal", "keep-alive"] {
        assert!(r.headers.get(gone).is_none(), "{gone}: {:?}", r.headers);
    }
    let connection = r.headers.get("connection").map(HeaderValue::as_bytes);
    assert_ne!(connection, Some(&b"x-internal"[..]), "{:?}", r.headers);
    backend.abort();
    Ok(())
}

/// A self-signed certificate for `name`: (cert PEM, key PEM, cert DER).
fn certificate(name: &str) -> anyhow::Result<(String, String, CertificateDer<'static>)> {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()])?;
    Ok((
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().clone(),
    ))
}

/// Connect with TLS to `port` as `sni`, trusting only `trusted`, offering
/// h2 and http/1.1; send `GET /headers` over h2.
/// Returns (ALPN protocol, response version, `x-backend`, body).
async fn get_tls_h2(
    port: u16,
    sni: &str,
    trusted: &CertificateDer<'static>,
) -> anyhow::Result<(Vec<u8>, Version, String, String)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(local(port)).await?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_owned())?, tcp)
        .await?;
    let alpn = tls.get_ref().1.alpn_protocol().unwrap_or_default().to_vec();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    let req = Request::get(format!("https://{sni}/headers")).body(Empty::<Bytes>::new())?;
    let resp = tokio::time::timeout(WAIT, send.send_request(req)).await??;
    let version = resp.version();
    let backend = resp
        .headers()
        .get("x-backend")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((
        alpn,
        version,
        backend,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_picks_the_certificate_by_sni_and_negotiates_h2() -> anyhow::Result<()> {
    let app = HttpBackend::start("app").await;
    let dir = lb_e2e::TempDir::new()?;
    let (mut entries, mut ders) = (Vec::new(), Vec::new());
    for name in ["a.test", "b.test"] {
        let (pem, key, der) = certificate(name)?;
        let (cert_path, key_path) = (
            dir.path().join(format!("{name}.pem")),
            dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, pem)?;
        std::fs::write(&key_path, key)?;
        entries.push(format!(
            "{{ server_names = [\"{name}\"], cert = {:?}, key = {:?} }}",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ));
        ders.push(der);
    }
    let port = free_port();
    let config = format!(
        "[listeners.web]\nbind = \"127.0.0.1:{port}\"\nprotocol = \"http\"\n\
         tls = {{ certificates = [{}] }}\n\
         [[listeners.web.routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n{}",
        entries.join(", "),
        upstream("app", app.addr(), "")
    );
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    for (sni, der) in [("a.test", &ders[0]), ("b.test", &ders[1])] {
        let (alpn, version, backend, body) = get_tls_h2(port, sni, der).await?;
        assert_eq!(alpn, b"h2", "{sni}");
        assert_eq!(version, Version::HTTP_2, "{sni}");
        assert_eq!(backend, "app", "{sni}");
        let seen = headers_json(&body);
        assert_eq!(seen["x-forwarded-proto"], "https", "{sni}: {seen}");
        assert_eq!(seen["x-forwarded-host"], sni, "{sni}: {seen}");
    }
    // Each name gets its own certificate: b.test's is not a.test's.
    assert!(get_tls_h2(port, "b.test", &ders[0]).await.is_err());
    assert!(get_tls_h2(port, "a.test", &ders[1]).await.is_err());
    Ok(())
}

/// An h2c (prior knowledge) connection to `port`.
async fn h2c(port: u16) -> anyhow::Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(local(port)).await?;
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    Ok(send)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_streams_on_one_connection_spread_over_two_http2_servers() -> anyhow::Result<()> {
    let (one, two) = (
        HttpBackend::start("one").await,
        HttpBackend::start("two").await,
    );
    let port = free_port();
    let config = format!(
        "{}[upstreams.grpc]\nprotocol = \"http2\"\nalgorithm = \"round_robin\"\n\
         servers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\n",
        listener(port, &["path_prefix = \"/\"\nupstream = \"grpc\""]),
        one.addr(),
        two.addr()
    );
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let send = h2c(port).await?;
    // 20 concurrent streams on that one client connection.
    let mut streams = Vec::new();
    for _ in 0..20 {
        let mut send = send.clone();
        streams.push(tokio::spawn(async move {
            let req =
                Request::get(format!("http://127.0.0.1:{port}/")).body(Full::new(Bytes::new()))?;
            let resp = tokio::time::timeout(WAIT, send.send_request(req)).await??;
            anyhow::ensure!(resp.status() == 200 && resp.version() == Version::HTTP_2);
            let name = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok(String::from_utf8_lossy(&name).into_owned())
        }));
    }
    let mut seen = BTreeMap::<String, u32>::new();
    for s in streams {
        *seen.entry(s.await??).or_default() += 1;
    }
    // Balanced per request (round robin), not per connection.
    assert_eq!(
        seen,
        BTreeMap::from([("one".into(), 10), ("two".into(), 10)])
    );
    Ok(())
}

/// An HTTP/2-only (h2c prior knowledge) server answering like a gRPC
/// service: a body, then trailers `grpc-status: 0`, `grpc-message: ok`.
/// An HTTP/1.1 request would fail: it proves the upstream speaks h2.
async fn grpc_like_backend() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let got = req.into_body().collect().await.map(|b| b.to_bytes().len());
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", HeaderValue::from_static("0"));
                    trailers.insert("grpc-message", HeaderValue::from_static("ok"));
                    let body = Full::new(Bytes::from(format!("got {}", got.unwrap_or(0))))
                        .with_trailers(async move { Some(Ok(trailers)) });
                    let mut resp = Response::new(body);
                    resp.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/grpc"));
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_style_trailers_arrive_through_an_http2_upstream() -> anyhow::Result<()> {
    let (addr, backend) = grpc_like_backend().await?;
    let port = free_port();
    let config = format!(
        "{}{}",
        listener(port, &["path_prefix = \"/\"\nupstream = \"grpc\""]),
        upstream("grpc", addr, "protocol = \"http2\"")
    );
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let mut send = h2c(port).await?;
    for _ in 0..3 {
        let req = Request::post(format!("http://127.0.0.1:{port}/pkg.Svc/Method"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(Bytes::from_static(b"\0\0\0\0\x05hello")))?;
        let resp = tokio::time::timeout(WAIT, send.send_request(req)).await??;
        assert_eq!(resp.status(), 200);
        let collected = tokio::time::timeout(WAIT, resp.into_body().collect()).await??;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        assert_eq!(collected.to_bytes(), "got 10");
        assert_eq!(
            trailers.get("grpc-status").map(HeaderValue::as_bytes),
            Some(&b"0"[..])
        );
        assert_eq!(
            trailers.get("grpc-message").map(HeaderValue::as_bytes),
            Some(&b"ok"[..])
        );
    }
    backend.abort();
    Ok(())
}

/// An HTTP/1.1 server that accepts any `Upgrade` with a 101 and then echoes
/// the raw bytes of the upgraded connection back.
async fn upgrade_echo_backend() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|mut req: Request<Incoming>| async move {
                    let on_upgrade = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        if let Ok(upgraded) = on_upgrade.await {
                            let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
                            let _ = tokio::io::copy(&mut r, &mut w).await;
                            let _ = w.shutdown().await;
                        }
                    });
                    let mut resp = Response::new(Empty::<Bytes>::new());
                    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                    resp.headers_mut()
                        .insert("upgrade", HeaderValue::from_static("websocket"));
                    resp.headers_mut()
                        .insert("connection", HeaderValue::from_static("upgrade"));
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Ok((addr, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_is_tunnelled_both_ways() -> anyhow::Result<()> {
    let (addr, backend) = upgrade_echo_backend().await?;
    let port = free_port();
    let config = format!(
        "{}{}",
        listener(port, &["path_prefix = \"/\"\nupstream = \"ws\""]),
        upstream("ws", addr, "")
    );
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let mut s = TcpStream::connect(local(port)).await?;
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await?;
    let head = read_until(&mut s, b"\r\n\r\n").await?;
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    // Bytes flow both ways, several round trips, then a large one.
    for msg in [&b"ping"[..], b"\x81\x05hello", &[0u8; 3][..]] {
        s.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(WAIT, s.read_exact(&mut buf)).await??;
        assert_eq!(buf, msg);
    }
    let big: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = s.into_split();
    let writer = {
        let big = big.clone();
        tokio::spawn(async move {
            w.write_all(&big).await?;
            w.shutdown().await?; // half-close: the echo ends and closes too
            anyhow::Ok(())
        })
    };
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, r.read_to_end(&mut back)).await??;
    writer.await??;
    assert!(back == big, "echoed {} of {} bytes", back.len(), big.len());
    backend.abort();
    Ok(())
}

/// The value of cookie `name` in a `set-cookie` header of `r`.
fn set_cookie(r: &lb_e2e::Reply, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sticky_cookie_is_set_honoured_and_reissued_after_its_server_dies() -> anyhow::Result<()>
{
    let mut backends = BTreeMap::new();
    for n in ["a", "b", "c"] {
        backends.insert(n.to_owned(), HttpBackend::start(n).await);
    }
    let addrs: Vec<String> = backends
        .values()
        .map(|b| format!("{{ addr = \"{}\" }}", b.addr()))
        .collect();
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        "[admin]\nbind = \"127.0.0.1:{admin}\"\n{}[upstreams.api]\nalgorithm = \"round_robin\"\n\
         sticky = {{ cookie = \"lb_srv\", max_age = \"1h\" }}\nservers = [{}]\n\
         [upstreams.api.health]\ncheck = \"http\"\npath = \"/health\"\ninterval = \"200ms\"\n\
         unhealthy_threshold = 1\nhealthy_threshold = 1\n",
        listener(port, &["path_prefix = \"/\"\nupstream = \"api\""]),
        addrs.join(", ")
    );
    let _lb = LbServer::start(&config, &[local(port), local(admin)]).await?;
    let http = client();
    let url = format!("http://127.0.0.1:{port}/");

    let first = get(&http, &url).await?;
    let cookie = set_cookie(&first, "lb_srv").ok_or_else(|| anyhow::anyhow!("{first:?}"))?;
    let owner = first.backend();
    // Opaque: no server address in it.
    for b in backends.values() {
        assert!(
            !cookie.contains(&format!(":{}", b.addr().port())),
            "{cookie}"
        );
    }
    assert!(
        !cookie.contains("127.0.0.1") && !cookie.contains("127%2E"),
        "{cookie}"
    );
    let with = |c: &str| format!("lb_srv={c}");
    for _ in 0..9 {
        let r = request(&http, "GET", &url, &[("cookie", &with(&cookie))]).await?;
        assert_eq!(r.backend(), owner, "the cookie pins the server");
    }

    // Its server dies: the request goes elsewhere and the cookie is re-issued.
    let dead = backends
        .remove(&owner)
        .ok_or_else(|| anyhow::anyhow!("{owner}"))?;
    let dead_addr = dead.addr();
    dead.stop();
    wait_state(admin, "api", dead_addr, "unhealthy").await?;
    let r = request(&http, "GET", &url, &[("cookie", &with(&cookie))]).await?;
    assert_eq!(r.status, 200);
    let new_owner = r.backend();
    assert_ne!(new_owner, owner);
    let reissued = set_cookie(&r, "lb_srv").ok_or_else(|| anyhow::anyhow!("{r:?}"))?;
    assert_ne!(reissued, cookie);
    for _ in 0..5 {
        let r = request(&http, "GET", &url, &[("cookie", &with(&reissued))]).await?;
        assert_eq!(r.backend(), new_owner, "the new cookie pins the new server");
    }
    Ok(())
}

/// A server that reads the request head, then closes the connection
/// without answering (a reset before the response). Counts requests.
async fn hang_up_backend() -> anyhow::Result<(SocketAddr, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                if read_until(&mut s, b"\r\n\r\n").await.is_ok() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                drop(s);
            });
        }
    });
    Ok((addr, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reset_by_one_server_is_retried_on_another() -> anyhow::Result<()> {
    let good = HttpBackend::start("good").await;
    let (bad, bad_seen) = hang_up_backend().await?;
    let port = free_port();
    let config = format!(
        "{}[upstreams.api]\nalgorithm = \"round_robin\"\n\
         servers = [{{ addr = \"{bad}\" }}, {{ addr = \"{}\" }}]\n\
         [upstreams.api.passive]\nconsecutive_failures = 1000\n",
        listener(port, &["path_prefix = \"/\"\nupstream = \"api\""]),
        good.addr()
    );
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let http = client();
    for _ in 0..6 {
        let r = get(&http, &format!("http://127.0.0.1:{port}/")).await?;
        assert_eq!((r.status, r.backend().as_str()), (200, "good"), "{r:?}");
    }
    // Round robin sent half of the first tries to the server that hangs up;
    // each was retried on the other one.
    assert_eq!(good.requests(), 6);
    assert!(
        bad_seen.load(Ordering::SeqCst) >= 3,
        "the bad server was tried"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_502_503_504_400_and_431_in_their_cases() -> anyhow::Result<()> {
    let app = HttpBackend::start("app").await;
    let (slow, full) = (GateBackend::start().await?, GateBackend::start().await?);
    let dead = local(free_port()); // nothing listens there: refused
    let port = free_port();
    let routes = [
        "path_prefix = \"/dead\"\nupstream = \"dead\"",
        "path_exact = \"/slow\"\nheaders = { \"x-case\" = \"timeout\" }\n\
         upstream = \"slow\"\ntimeout = \"300ms\"",
        "path_exact = \"/slow\"\nupstream = \"full\"",
        "path_prefix = \"/\"\nupstream = \"app\"",
    ];
    let config = format!(
        "{}{}{}{}{}",
        listener(port, &routes),
        upstream("dead", dead, ""),
        upstream("slow", slow.addr(), ""),
        upstream("full", full.addr(), "max_connections_per_server = 1"),
        upstream("app", app.addr(), "")
    );
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let http = client();
    let base = format!("http://127.0.0.1:{port}");
    let plain = |r: &lb_e2e::Reply, code: u16| {
        assert_eq!(r.status, code, "{r:?}");
        assert!(r.body.starts_with(&code.to_string()), "{r:?}");
        assert_eq!(
            r.headers.get("content-type"),
            Some(&HeaderValue::from_static("text/plain; charset=utf-8")),
            "{r:?}"
        );
    };

    // 502: the only server refuses.
    plain(&get(&http, &format!("{base}/dead")).await?, 502);

    // 504: the server never answers within the route timeout.
    let r = request(
        &http,
        "GET",
        &format!("{base}/slow"),
        &[("x-case", "timeout")],
    )
    .await?;
    plain(&r, 504);

    // 503: the only server is at max_connections_per_server = 1.
    let held = {
        let http = http.clone();
        let url = format!("{base}/slow");
        tokio::spawn(async move { get(&http, &url).await })
    };
    eventually("one request held", || async {
        (full.waiting() == 1).then_some(())
    })
    .await?;
    plain(&get(&http, &format!("{base}/slow")).await?, 503);
    full.open();
    assert_eq!(held.await??.status, 200);
    slow.open();

    // 431: a request head over the limit (64 KiB); 400: a malformed one.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(80 * 1024)
    );
    let out = raw_exchange(port, big.as_bytes()).await?;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    let out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n").await?;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    // None of that reached the default server; a good request does.
    assert_eq!(app.requests(), 0);
    assert_eq!(get(&http, &format!("{base}/")).await?.status, 200);
    Ok(())
}

/// A request body of `left` bytes made on the fly in 64 KiB frames of a
/// fixed pattern (byte `i` of every frame is `i % 251`); never held whole.
struct Pattern {
    left: u64,
    frame: Bytes,
}

impl Pattern {
    fn frame() -> Bytes {
        (0..FRAME)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into()
    }
}

const FRAME: usize = 64 * 1024;

impl Body for Pattern {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(FRAME as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.frame.slice(..n)))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_streams_through_with_flat_balancer_memory() -> anyhow::Result<()> {
    // The full 1 GiB of the issue: a debug build echoes it in ~2-3 s on
    // loopback (64 KiB frames), well inside the time budget.
    const SIZE: u64 = 1 << 30;
    let app = HttpBackend::start("app").await;
    let port = free_port();
    let mut config = listener(port, &["path_prefix = \"/\"\nupstream = \"app\""]);
    config.push_str(&upstream("app", app.addr(), ""));
    let lb = LbServer::start(&config, &[local(port)]).await?;

    // POST /echo: the backend streams the body straight back, so the
    // balancer carries SIZE bytes each way at once.
    let echo = |size: u64| async move {
        let tcp = TcpStream::connect(local(port)).await?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        let frame = Pattern::frame();
        let body = Pattern {
            left: size,
            frame: frame.clone(),
        };
        let req = Request::post("/echo").header("host", "big").body(body)?;
        let resp = tokio::time::timeout(WAIT, send.send_request(req)).await??;
        anyhow::ensure!(resp.status() == 200, "{resp:?}");
        let mut body = resp.into_body();
        let mut got = 0u64;
        while let Some(f) = body.frame().await {
            let Ok(mut data) = f?.into_data() else {
                continue;
            };
            // Check every byte against the pattern at its offset.
            while !data.is_empty() {
                let at = (got % FRAME as u64) as usize;
                let n = data.len().min(FRAME - at);
                anyhow::ensure!(data[..n] == frame[at..at + n], "corrupt at {got}");
                got += n as u64;
                let _ = data.split_to(n);
            }
        }
        anyhow::ensure!(got == size, "echoed {got} of {size}");
        anyhow::Ok(())
    };
    echo(1 << 20).await?; // warm up: pools, buffers, threads
    let before = vm_kib(lb.pid(), "VmRSS")?;
    echo(SIZE).await?;
    let peak = vm_kib(lb.pid(), "VmHWM")?;
    // Buffering even an eighth of the body would add 128 MiB; streaming
    // holds a few socket and hyper buffers per direction.
    assert!(
        peak.saturating_sub(before) < 64 * 1024,
        "balancer RSS went from {before} KiB to a peak of {peak} KiB"
    );
    assert_eq!(app.requests(), 2, "both bodies went through the backend");
    Ok(())
}
