//! The HTTP/1.1 fast path (`lb_l7::h1`) over real loopback sockets: a
//! scripted raw backend writes exact bytes (chunked bodies, trailers,
//! close-delimited bodies, interim answers, bad framing, closes), and where
//! the test is about bytes on the wire the client is raw TCP too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_l7::{ListenerOptions, UpstreamOptions};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::support::*;

/// A proxy on the default options sending everything to the server `addr`.
async fn proxy_to(addr: SocketAddr) -> Proxy {
    proxy_with(ListenerOptions::default(), addr).await
}

/// A proxy on `opts` sending everything to the server `addr`.
async fn proxy_with(opts: ListenerOptions, addr: SocketAddr) -> Proxy {
    let up = upstream("api", &[addr], UpstreamOptions::default());
    Proxy::start(opts, routing(vec![to("api")], &[&up])).await
}

/// How long (on tokio's clock) until the proxy closes `client`'s idle
/// connection, which must send nothing more.
async fn time_until_closed(client: &mut RawClient) -> Duration {
    let t0 = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(600), client.read_to_end())
        .await
        .expect("the proxy closed the idle connection");
    assert!(rest.is_empty(), "{rest:?}");
    t0.elapsed()
}

/// `GET path` with `Host: example.com`.
fn get_req(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n").into_bytes()
}

/// A 200 answer with the request's target as its body, for the requests a
/// script does not handle specially.
fn echo(seen: &Seen) -> Vec<Step> {
    vec![Step::Write(ok_with_body(seen.path().as_bytes()))]
}

/// Send `GET path` on `client` and check the echoed answer.
async fn get_echoed(client: &mut RawClient, path: &str) {
    client.send(&get_req(path)).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.text(), path);
}

#[tokio::test]
async fn five_sequential_gets_on_one_client_connection_use_one_server_connection() {
    let backend = RawBackend::echo_path().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = H1::connect(proxy.addr).await;
    for i in 0..5 {
        let path = format!("/r{i}");
        let resp = client.get(&path).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), path.as_bytes());
    }
    assert_eq!(backend.seen().len(), 5);
    assert_eq!(backend.connections(), 1, "the server connection is reused");
}

#[tokio::test]
async fn two_pipelined_gets_are_answered_in_order_and_whole() {
    let backend = RawBackend::echo_path().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    let mut both = get_req("/one");
    both.extend_from_slice(&get_req("/two"));
    client.send(&both).await;
    for path in ["/one", "/two"] {
        let resp = client.read_response(false).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), path);
    }
    let paths: Vec<String> = backend.seen().iter().map(|s| s.path().to_owned()).collect();
    assert_eq!(paths, ["/one", "/two"]);
}

/// A chunked body with a chunk extension and a trailer.
const CHUNKED: &[u8] =
    b"4;name=value\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Checksum: abc\r\n\r\n";

#[tokio::test]
async fn a_chunked_response_is_relayed_byte_exact_and_both_connections_are_reused() {
    let backend = RawBackend::start(|seen| {
        if seen.path() != "/chunked" {
            return echo(seen);
        }
        let mut first = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        first.extend_from_slice(&CHUNKED[..20]);
        vec![Step::Write(first), Step::Write(CHUNKED[20..].to_vec())]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/chunked")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.header("content-length"), None);
    assert_eq!(
        String::from_utf8_lossy(&resp.framed),
        String::from_utf8_lossy(CHUNKED),
        "the framing is relayed as the server sent it"
    );
    assert_eq!(resp.text(), "Wikipedia in \r\n\r\nchunks.");
    assert_eq!(dechunk(&resp.framed).unwrap().trailers, ["X-Checksum: abc"]);

    get_echoed(&mut client, "/next").await;
    assert_eq!(backend.connections(), 1, "the server connection is reused");
}

#[tokio::test]
async fn a_close_delimited_response_is_relayed_whole_with_connection_close_then_eof() {
    let body: Vec<u8> = (0..100_000u32)
        .map(|i| b"0123456789abcdef"[i as usize % 16])
        .collect();
    let sent = body.clone();
    let backend = RawBackend::start(move |_| {
        vec![
            Step::Write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec(),
            ),
            Step::Write(sent.clone()),
            Step::Close,
        ]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/stream")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"));
    assert_eq!(resp.header("content-length"), None);
    assert_eq!(resp.header("transfer-encoding"), None);
    assert_eq!(resp.body.len(), body.len());
    assert!(resp.body == body, "the body is relayed whole");
    // `read_response` read this body until EOF: the proxy closed.
    assert!(client.read_to_end().await.is_empty());
}

#[tokio::test]
async fn a_head_response_relays_its_content_length_without_a_body_and_the_next_get_works() {
    let backend = RawBackend::start(|seen| {
        if seen.method() == "HEAD" {
            vec![Step::Write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Head: yes\r\n\r\n".to_vec(),
            )]
        } else {
            echo(seen)
        }
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client
        .send(b"HEAD /h HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await;
    let resp = client.read_response(true).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("100"));
    assert_eq!(resp.header("x-head"), Some("yes"));
    // No body bytes came: the next answer starts right after the head.
    get_echoed(&mut client, "/after").await;
    assert_eq!(backend.connections(), 1, "the server connection is reused");
}

#[tokio::test]
async fn no_content_and_not_modified_responses_have_no_body_and_connections_are_reused() {
    let backend = RawBackend::start(|seen| match seen.path() {
        "/204" => vec![Step::Write(
            b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n".to_vec(),
        )],
        // The length of the representation, not of a body.
        "/304" => vec![Step::Write(
            b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 10\r\n\r\n".to_vec(),
        )],
        _ => echo(seen),
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/204")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("x-a"), Some("1"));
    client.send(&get_req("/304")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 304);
    assert_eq!(resp.header("etag"), Some("\"v1\""));
    get_echoed(&mut client, "/after").await;
    assert_eq!(backend.connections(), 1, "the server connection is reused");
}

#[tokio::test]
async fn an_interim_103_is_followed_by_the_final_response_and_its_body() {
    let backend = RawBackend::start(|seen| {
        if seen.path() != "/hints" {
            return echo(seen);
        }
        vec![
            Step::Write(
                b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n".to_vec(),
            ),
            Step::Write(ok_with_body(b"hello")),
        ]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/hints")).await;
    // Relaying the interim answer would be allowed too: skip any.
    let resp = loop {
        let resp = client.read_response(false).await;
        if resp.status >= 200 {
            break resp;
        }
        assert_eq!(resp.status, 103);
    };
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello");
    get_echoed(&mut client, "/after").await;
    assert_eq!(backend.connections(), 1, "the server connection is reused");
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_after_answering_is_replaced() {
    // The first connection answers once and closes, without saying so.
    let backend = RawBackend::start(|seen| {
        let mut steps = echo(seen);
        if seen.conn == 0 {
            steps.push(Step::Close);
        }
        steps
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = H1::connect(proxy.addr).await;
    assert_eq!(client.get("/1").await.body(), "/1");
    let resp = client.get("/2").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), "/2");
    assert_eq!(backend.connections(), 2);
    let last = backend.seen().pop().unwrap();
    assert_eq!((last.conn, last.path()), (1, "/2"));
}

#[tokio::test]
async fn a_pooled_connection_the_server_closes_on_the_next_request_is_retried_on_a_new_one() {
    // The keep-alive race: the server closes the idle connection just as
    // the next request arrives, without answering it.
    let backend = RawBackend::start(|seen| {
        if seen.conn == 0 && seen.nth == 1 {
            vec![Step::Close]
        } else {
            echo(seen)
        }
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = H1::connect(proxy.addr).await;
    assert_eq!(client.get("/1").await.body(), "/1");
    let resp = client.get("/2").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), "/2");
    assert_eq!(backend.connections(), 2);
    let tries: Vec<(u64, String)> = backend
        .seen()
        .iter()
        .map(|s| (s.conn, s.path().to_owned()))
        .collect();
    assert_eq!(
        tries,
        [(0, "/1".into()), (0, "/2".into()), (1, "/2".into())]
    );
}

#[tokio::test]
async fn a_bad_chunked_body_cuts_the_response_and_closes_the_client_connection() {
    let gate = Arc::new(Notify::new());
    let open = Arc::clone(&gate);
    let backend = RawBackend::start(move |seen| {
        if seen.path() != "/bad" {
            return echo(seen);
        }
        vec![
            Step::Write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
            ),
            Step::Wait(Arc::clone(&open)),
            // Not a hex chunk size.
            Step::Write(b"zz\r\nmore\r\n0\r\n\r\n".to_vec()),
        ]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/bad")).await;
    let (_, status, headers) = client.read_head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
    assert_eq!(client.read_exact(10).await, b"5\r\nhello\r\n");
    gate.notify_one();
    let rest = client.read_to_end().await;
    assert!(
        rest.is_empty(),
        "nothing after the cut, and the connection is closed: {:?}",
        String::from_utf8_lossy(&rest)
    );

    let mut fresh = RawClient::connect(proxy.addr).await;
    get_echoed(&mut fresh, "/ok").await;
    assert_eq!(
        backend.connections(),
        2,
        "the broken server connection is not reused"
    );
}

/// A backend answering with `METHOD target body`.
async fn describing_backend() -> RawBackend {
    RawBackend::start(|seen| {
        let mut text = format!("{} {} ", seen.method(), seen.path()).into_bytes();
        text.extend_from_slice(&seen.body);
        vec![Step::Write(ok_with_body(&text))]
    })
    .await
}

#[tokio::test]
async fn a_small_post_between_gets_keeps_its_body_and_the_connection_serves_on() {
    let backend = describing_backend().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/first")).await;
    assert_eq!(client.read_response(false).await.text(), "GET /first ");
    client
        .send(b"POST /post HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello")
        .await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "POST /post hello");
    client.send(&get_req("/third")).await;
    assert_eq!(client.read_response(false).await.text(), "GET /third ");

    let post = backend
        .seen()
        .into_iter()
        .find(|s| s.method() == "POST")
        .unwrap();
    assert_eq!(post.header("content-length"), Some("5"));
    assert_eq!(post.body, b"hello");
}

#[tokio::test]
async fn a_post_body_arriving_after_its_head_is_forwarded_whole() {
    let backend = describing_backend().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client
        .send(b"POST /late HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello")
        .await;
    client.send(b" world").await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "POST /late hello world");
    client.send(&get_req("/next")).await;
    assert_eq!(client.read_response(false).await.text(), "GET /next ");
}

#[tokio::test]
async fn a_body_over_64_kib_after_a_fast_get_is_handed_to_hyper_whole() {
    let backend = describing_backend().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/first")).await;
    assert_eq!(client.read_response(false).await.text(), "GET /first ");
    let body = vec![b'x'; 100 * 1024];
    let mut req = format!(
        "POST /big HTTP/1.1\r\nHost: example.com\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    client.send(&req).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    let post = backend
        .seen()
        .into_iter()
        .find(|s| s.method() == "POST")
        .unwrap();
    assert_eq!(post.body, body);
}

#[tokio::test]
async fn a_post_whose_first_server_refuses_is_retried_with_its_body() {
    let backend = describing_backend().await;
    let dead = dead_addr().await;
    let up = upstream("api", &[dead, backend.addr], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    // Round robin sends at least one of the two to the dead server first:
    // both must reach the live one with their bodies.
    for body in ["one", "two"] {
        let mut client = RawClient::connect(proxy.addr).await;
        let req =
            format!("POST /r HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\n{body}");
        client.send(req.as_bytes()).await;
        let resp = client.read_response(false).await;
        assert_eq!(resp.status, 200, "{body}");
        assert_eq!(resp.text(), format!("POST /r {body}"));
    }
    assert!(up.retries() >= 1, "no request was retried");
}

#[tokio::test]
async fn a_get_and_a_post_pipelined_in_one_write_are_both_answered() {
    let backend = describing_backend().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    let mut both = get_req("/first");
    both.extend_from_slice(
        b"POST /post HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello",
    );
    client.send(&both).await;
    assert_eq!(client.read_response(false).await.text(), "GET /first ");
    assert_eq!(client.read_response(false).await.text(), "POST /post hello");
}

#[tokio::test]
async fn an_http10_request_is_handed_to_hyper_and_answered() {
    let backend = describing_backend().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client
        .send(b"GET /old HTTP/1.0\r\nHost: example.com\r\n\r\n")
        .await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "GET /old ");
    // HTTP/1.0 without keep-alive: the connection ends after the answer.
    assert!(client.read_to_end().await.is_empty());
    assert_eq!(backend.seen()[0].header("host"), Some("example.com"));
}

#[tokio::test]
async fn a_request_without_host_reaches_the_server_with_its_address_as_host() {
    let backend = RawBackend::echo_path().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(b"GET /nohost HTTP/1.1\r\n\r\n").await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "/nohost");
    let seen = &backend.seen()[0];
    let addr = backend.addr.to_string();
    assert_eq!(seen.header("host"), Some(addr.as_str()), "{}", seen.head);
    assert_eq!(seen.header("x-forwarded-host"), None, "{}", seen.head);
}

#[tokio::test]
async fn connection_close_from_the_client_is_answered_with_close_then_eof() {
    let backend = RawBackend::echo_path().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client
        .send(b"GET /bye HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        .await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "/bye");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        client.read_to_end().await.is_empty(),
        "closed after the answer"
    );
    let seen = &backend.seen()[0];
    assert_eq!(
        seen.header("connection"),
        None,
        "hop-by-hop, not forwarded: {}",
        seen.head
    );
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_not_relayed_end_to_end_ones_are() {
    let backend = RawBackend::start(|_| {
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nConnection: x-foo\r\nX-Foo: 1\r\nKeep-Alive: timeout=5\r\n\
              Proxy-Connection: keep-alive\r\nX-Bar: 2\r\nCache-Control: no-store\r\n\
              Content-Length: 2\r\n\r\nok"
                .to_vec(),
        )]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "ok");
    for gone in ["connection", "x-foo", "keep-alive", "proxy-connection"] {
        assert_eq!(
            resp.header(gone),
            None,
            "{gone} relayed: {:?}",
            resp.headers
        );
    }
    assert_eq!(resp.header("x-bar"), Some("2"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert_eq!(resp.header("content-length"), Some("2"));
}

#[tokio::test]
async fn forwarding_headers_reach_the_server() {
    let backend = RawBackend::echo_path().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client
        .send(b"GET /a HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
        .await;
    assert_eq!(client.read_response(false).await.status, 200);
    client
        .send(
            b"GET /b HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 203.0.113.7\r\n\
              X-Forwarded-Proto: https\r\nX-Real-IP: 10.9.9.9\r\n\r\n",
        )
        .await;
    assert_eq!(client.read_response(false).await.status, 200);

    let seen = backend.seen();
    let a = &seen[0];
    assert_eq!(a.header("host"), Some("example.com:8080"), "{}", a.head);
    assert_eq!(a.header("x-forwarded-for"), Some("127.0.0.1"), "{}", a.head);
    assert_eq!(a.header("x-forwarded-proto"), Some("http"), "{}", a.head);
    assert_eq!(
        a.header("x-forwarded-host"),
        Some("example.com:8080"),
        "{}",
        a.head
    );
    assert_eq!(a.header("x-real-ip"), Some("127.0.0.1"), "{}", a.head);
    let b = &seen[1];
    assert_eq!(
        b.header("x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1"),
        "{}",
        b.head
    );
    assert_eq!(b.header("x-forwarded-proto"), Some("http"), "{}", b.head);
    assert_eq!(b.header("x-real-ip"), Some("127.0.0.1"), "{}", b.head);
}

/// On paused time, so the bounds below are exact. While the request is in
/// flight no timer is pending, so the clock cannot jump; once it is
/// answered the listener's idle timer is the next one and the clock jumps
/// to it. The client reads without its usual guard timer for that reason.
#[tokio::test(start_paused = true)]
async fn an_idle_client_connection_is_closed_after_idle_timeout_not_header_timeout() {
    let backend = RawBackend::echo_path().await;
    let mut opts = ListenerOptions::default();
    opts.idle_timeout = Duration::from_millis(200);
    opts.header_timeout = Duration::from_secs(30);
    let proxy = proxy_with(opts, backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await.unguarded();
    client.send(&get_req("/idle")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.text(), "/idle");
    let waited = time_until_closed(&mut client).await;
    assert!(
        waited >= Duration::from_millis(200),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(30), "closed after {waited:?}");
}

// Beyond the basics: framing and limits the fast path must get right.

#[tokio::test]

async fn a_response_with_both_chunked_and_content_length_is_relayed_without_content_length() {
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and "a
    // sender MUST remove the received Content-Length field prior to
    // forwarding such a message downstream".
    let backend = RawBackend::start(|seen| {
        if seen.path() != "/both" {
            return echo(seen);
        }
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        )]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/both")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.text(), "hello");
    assert_eq!(
        resp.header("content-length"),
        None,
        "both framings relayed: {:?}",
        resp.headers
    );
    get_echoed(&mut client, "/after").await;
}

#[tokio::test]
async fn a_response_with_conflicting_content_lengths_is_answered_502() {
    let backend = RawBackend::start(|seen| {
        if seen.path() != "/conflict" {
            return echo(seen);
        }
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        )]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/conflict")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 502, "{resp:?}");
    assert!(!resp.text().contains("hello"));
    get_echoed(&mut client, "/after").await;
}

#[tokio::test]
async fn bytes_after_a_response_body_retire_the_server_connection() {
    // One write: the answer, then an answer nobody asked for.
    let backend = RawBackend::start(|seen| {
        let mut bytes = ok_with_body(seen.path().as_bytes());
        if seen.conn == 0 {
            bytes.extend_from_slice(&ok_with_body(b"EVIL!"));
        }
        vec![Step::Write(bytes)]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    get_echoed(&mut client, "/a").await;
    get_echoed(&mut client, "/b").await;
    assert_eq!(
        backend.connections(),
        2,
        "the desynchronised connection is dropped"
    );
}

#[tokio::test]
async fn a_large_body_is_relayed_whole_and_the_connection_reused() {
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = body.clone();
    let backend = RawBackend::start(move |seen| {
        if seen.path() == "/big" {
            vec![Step::Write(ok_with_body(&sent))]
        } else {
            echo(seen)
        }
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/big")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == body,
        "{} bytes, not the ones sent",
        resp.body.len()
    );
    get_echoed(&mut client, "/after").await;
    assert_eq!(backend.connections(), 1);
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_cuts_the_response_and_closes() {
    let backend = RawBackend::start(|seen| {
        if seen.path() != "/short" {
            return echo(seen);
        }
        vec![
            Step::Write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec()),
            Step::Close,
        ]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/short")).await;
    let (_, status, headers) = client.read_head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".into(), "10".into())));
    let rest = client.read_to_end().await;
    assert_eq!(rest, b"abc", "the body is cut and the connection closed");

    let mut fresh = RawClient::connect(proxy.addr).await;
    get_echoed(&mut fresh, "/ok").await;
}

#[tokio::test]
async fn connection_close_from_the_server_is_not_relayed_and_the_client_connection_stays() {
    let backend = RawBackend::start(|seen| {
        let body = seen.path().as_bytes();
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        vec![Step::Write(out), Step::Close]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    for path in ["/1", "/2"] {
        client.send(&get_req(path)).await;
        let resp = client.read_response(false).await;
        assert_eq!(resp.text(), path);
        assert_eq!(resp.header("connection"), None, "{:?}", resp.headers);
    }
    assert_eq!(
        backend.connections(),
        2,
        "a closing server connection is not pooled"
    );
}

#[tokio::test]
async fn an_oversized_request_head_is_handed_to_hyper_and_answered_431() {
    let backend = RawBackend::echo_path().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    let pad = "a".repeat(70 * 1024);
    client
        .send(format!("GET /big HTTP/1.1\r\nHost: example.com\r\nX-Pad: {pad}\r\n\r\n").as_bytes())
        .await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 431, "{:?}", resp.headers);
    assert!(backend.seen().is_empty());
}

#[tokio::test]

async fn an_endless_response_head_is_answered_502() {
    // A header value of 1 MiB that never ends. hyper's client gives up
    // past ~400 KiB of head; the fast path keeps buffering (and re-parsing)
    // for as long as the server sends.
    let gate = Arc::new(Notify::new());
    let never = Arc::clone(&gate);
    let backend = RawBackend::start(move |_| {
        let mut head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        head.resize(head.len() + (1 << 20), b'a');
        vec![Step::Write(head), Step::Wait(Arc::clone(&never))]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/endless")).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 502);
    drop(gate);
}

/// A `GET` head of exactly `len` bytes.
fn padded_get(path: &str, len: usize) -> Vec<u8> {
    let bare = format!("GET {path} HTTP/1.1\r\nHost: example.com\r\nX-Pad: \r\n\r\n");
    let pad = "p".repeat(len - bare.len());
    let head = format!("GET {path} HTTP/1.1\r\nHost: example.com\r\nX-Pad: {pad}\r\n\r\n");
    assert_eq!(head.len(), len);
    head.into_bytes()
}

/// As `an_idle_client_connection_is_closed_after_idle_timeout_not_header_timeout`
/// (paused time, no guard timer), with `idle_timeout` longer than
/// `header_timeout` and a request head of 4096 bytes: exactly the read
/// buffer the fast path starts with. A read that fills the buffer leaves
/// the socket marked readable, and the idle wait is only readiness.
#[tokio::test(start_paused = true)]

async fn an_idle_connection_after_a_buffer_sized_head_waits_for_idle_timeout() {
    let backend = RawBackend::echo_path().await;
    let mut opts = ListenerOptions::default();
    opts.header_timeout = Duration::from_secs(10);
    opts.idle_timeout = Duration::from_secs(60);
    let proxy = proxy_with(opts, backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await.unguarded();
    client.send(&padded_get("/exact", 4096)).await;
    let resp = client.read_response(false).await;
    assert_eq!(resp.text(), "/exact");
    let waited = time_until_closed(&mut client).await;
    assert!(
        waited >= Duration::from_secs(60),
        "closed after {waited:?}: header_timeout, not idle_timeout"
    );
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_gets_the_whole_response() {
    use tokio::io::AsyncWriteExt;

    let backend = RawBackend::echo_path().await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/half")).await;
    client.stream.shutdown().await.unwrap();
    let resp = client.read_response(false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "/half");
    assert!(client.read_to_end().await.is_empty());
}

#[tokio::test]

async fn a_content_length_named_in_connection_still_frames_the_relayed_body() {
    // `Connection: content-length` makes Content-Length "hop-by-hop" for a
    // naive strip; the relay still sends a body of that length, so the
    // client must get the length (or a close) to find its end.
    let backend = RawBackend::start(|seen| {
        if seen.path() != "/named" {
            return echo(seen);
        }
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nok"
                .to_vec(),
        )]
    })
    .await;
    let proxy = proxy_to(backend.addr).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.send(&get_req("/named")).await;
    let (_, status, headers) = client.read_head().await;
    assert_eq!(status, 200);
    let has = |name: &str, value: &str| headers.contains(&(name.into(), value.into()));
    assert!(
        has("content-length", "2") || has("connection", "close"),
        "the client cannot find the end of the body: {headers:?}"
    );
    assert_eq!(client.read_exact(2).await, b"ok");
    if has("content-length", "2") {
        get_echoed(&mut client, "/after").await;
    }
}
