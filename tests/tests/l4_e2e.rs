//! Issue 7 through the real binary: TCP echo and round robin over
//! connections, half-close both ways, a refused server skipped, PROXY
//! protocol sent byte-exact and accepted on TCP and HTTP listeners (a
//! malformed header closes the connection, a slow one harms no other), UDP
//! flows pinned to one server.

mod support_e2e;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use lb_e2e::{free_port, LbServer, WAIT};
use lb_test_support::{HttpBackend, TcpEcho, UdpEcho};
use support_e2e::{local, raw_exchange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// The 12-byte signature that starts every PROXY v2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// A TCP server that reads each connection to EOF, hands everything it read
/// to the test, then answers `<n> bytes` and closes: whatever it answers
/// was written *after* the client's FIN reached it.
struct Capture {
    addr: SocketAddr,
    got: mpsc::UnboundedReceiver<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
}

impl Capture {
    async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, got) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut all = Vec::new();
                    if s.read_to_end(&mut all).await.is_err() {
                        return;
                    }
                    let _ = s.write_all(format!("{} bytes", all.len()).as_bytes()).await;
                    let _ = s.shutdown().await;
                    let _ = tx.send(all);
                });
            }
        });
        Ok(Self { addr, got, task })
    }

    /// The bytes of the next connection that ended.
    async fn next(&mut self) -> anyhow::Result<Vec<u8>> {
        tokio::time::timeout(WAIT, self.got.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("capture server stopped"))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connect to `port`, send `bytes`, shut down writing, read to the end.
/// Returns the client's own address and what came back.
async fn send_and_finish(port: u16, bytes: &[u8]) -> anyhow::Result<(SocketAddr, Vec<u8>)> {
    let mut s = TcpStream::connect(local(port)).await?;
    let me = s.local_addr()?;
    s.write_all(bytes).await?;
    s.shutdown().await?;
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await??;
    Ok((me, out))
}

/// One `protocol = "tcp"` listener named `name` on `port` to upstream
/// `name` over `servers`, plus `extra` listener keys.
fn tcp_listener(name: &str, port: u16, servers: &[SocketAddr], extra: &str) -> String {
    let servers: Vec<String> = servers
        .iter()
        .map(|s| format!("{{ addr = \"{s}\" }}"))
        .collect();
    format!(
        r#"
[listeners.{name}]
bind = "127.0.0.1:{port}"
protocol = "tcp"
upstream = "{name}"
{extra}
[upstreams.{name}]
algorithm = "round_robin"
servers = [{servers}]
"#,
        servers = servers.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_echo_goes_through_and_connections_rotate_round_robin() -> anyhow::Result<()> {
    let (one, two) = (TcpEcho::start().await, TcpEcho::start().await);
    let port = free_port();
    let lb = LbServer::start(
        &tcp_listener("echo", port, &[one.addr(), two.addr()], ""),
        &[],
    )
    .await?;
    wait_ready(&lb).await?;
    let mut order = Vec::new();
    for i in 0..6 {
        let before = (one.connections(), two.connections());
        let mut s = TcpStream::connect(local(port)).await?;
        let msg = format!("hello {i}");
        s.write_all(msg.as_bytes()).await?;
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(WAIT, s.read_exact(&mut buf)).await??;
        assert_eq!(buf, msg.as_bytes());
        let after = (one.connections(), two.connections());
        order.push(match (after.0 - before.0, after.1 - before.1) {
            (1, 0) => "one",
            (0, 1) => "two",
            other => anyhow::bail!("connection {i} reached {other:?} servers"),
        });
    }
    // Round robin: each new connection goes to the other server.
    assert!(order.windows(2).all(|w| w[0] != w[1]), "{order:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_passes_the_fin_and_the_reply_still_flows_back() -> anyhow::Result<()> {
    let mut server = Capture::start().await?;
    let port = free_port();
    let lb = LbServer::start(&tcp_listener("half", port, &[server.addr], ""), &[]).await?;
    wait_ready(&lb).await?;
    let body = vec![7u8; 256 * 1024];
    let (_, reply) = send_and_finish(port, &body).await?;
    // The server answers only once it read EOF: the client's FIN went
    // through, and the answer written after it came back.
    assert_eq!(String::from_utf8_lossy(&reply), "262144 bytes");
    assert_eq!(server.next().await?, body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_from_the_server_leaves_the_client_direction_flowing() -> anyhow::Result<()> {
    // The server greets, shuts down its write side at once, then reads
    // everything the client still sends and reports how much it got.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let server = listener.local_addr()?;
    let (tx, mut got) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = s.write_all(b"hello").await;
                let _ = s.shutdown().await;
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all).await;
                let _ = tx.send(all.len());
            });
        }
    });
    let port = free_port();
    let lb = LbServer::start(&tcp_listener("half", port, &[server], ""), &[]).await?;
    wait_ready(&lb).await?;
    let mut s = TcpStream::connect(local(port)).await?;
    let mut greeting = Vec::new();
    // EOF arrives: the server's FIN was passed on...
    tokio::time::timeout(WAIT, s.read_to_end(&mut greeting)).await??;
    assert_eq!(greeting, b"hello");
    // ...and the client can still send, all of it reaching the server.
    s.write_all(&vec![1u8; 256 * 1024]).await?;
    s.shutdown().await?;
    let n = tokio::time::timeout(WAIT, got.recv()).await?;
    assert_eq!(n, Some(256 * 1024));
    task.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_server_is_skipped_for_the_next_one() -> anyhow::Result<()> {
    let echo = TcpEcho::start().await;
    let dead = local(free_port()); // nothing listens there: refused
    let port = free_port();
    let lb = LbServer::start(&tcp_listener("db", port, &[dead, echo.addr()], ""), &[]).await?;
    wait_ready(&lb).await?;
    let before = echo.connections();
    for i in 0..4 {
        let msg = format!("try {i}");
        let (_, reply) = send_and_finish(port, msg.as_bytes()).await?;
        assert_eq!(String::from_utf8_lossy(&reply), msg);
    }
    assert_eq!(echo.connections(), before + 4, "every connection landed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_proxy_protocol_v1_and_v2_reach_the_server_byte_exact() -> anyhow::Result<()> {
    let mut cap = Capture::start().await?;
    let (p1, p2) = (free_port(), free_port());
    let config = format!(
        "{}{}",
        tcp_listener("pv1", p1, &[cap.addr], "send_proxy_protocol = \"v1\""),
        tcp_listener("pv2", p2, &[cap.addr], "send_proxy_protocol = \"v2\"")
    );
    let lb = LbServer::start(&config, &[]).await?;
    wait_ready(&lb).await?;

    let (me, reply) = send_and_finish(p1, b"payload").await?;
    let got = cap.next().await?;
    let expected = format!(
        "PROXY TCP4 127.0.0.1 127.0.0.1 {} {p1}\r\npayload",
        me.port()
    );
    assert_eq!(String::from_utf8_lossy(&got), expected);
    assert_eq!(reply, format!("{} bytes", expected.len()).as_bytes());

    let (me, _) = send_and_finish(p2, b"payload").await?;
    let got = cap.next().await?;
    let mut expected = V2_SIGNATURE.to_vec();
    expected.extend_from_slice(&[0x21, 0x11, 0x00, 12]); // v2 PROXY, TCP over IPv4, 12 bytes
    expected.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    expected.extend_from_slice(&me.port().to_be_bytes());
    expected.extend_from_slice(&p2.to_be_bytes());
    // A sender may add TLVs; lb adds none, so the header is exactly 28 bytes.
    expected.extend_from_slice(b"payload");
    assert_eq!(got, expected, "got {got:02x?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_proxy_protocol_on_tcp_strips_the_header_and_passes_its_source_on(
) -> anyhow::Result<()> {
    let mut cap = Capture::start().await?;
    let echo = TcpEcho::start().await;
    let (fwd, plain) = (free_port(), free_port());
    let config = format!(
        "{}{}",
        tcp_listener(
            "fwd",
            fwd,
            &[cap.addr],
            "accept_proxy_protocol = true\nsend_proxy_protocol = \"v1\""
        ),
        tcp_listener(
            "plain",
            plain,
            &[echo.addr()],
            "accept_proxy_protocol = true"
        )
    );
    let lb = LbServer::start(&config, &[]).await?;
    wait_ready(&lb).await?;

    // The example header of the HAProxy specification (v1, TCP4).
    let v1 = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    let (_, reply) = send_and_finish(plain, &[&v1[..], b"hello"].concat()).await?;
    assert_eq!(reply, b"hello", "the header is consumed, not forwarded");

    let (_, _) = send_and_finish(fwd, &[&v1[..], b"hello"].concat()).await?;
    let got = String::from_utf8_lossy(&cap.next().await?).into_owned();
    assert!(
        got.starts_with("PROXY TCP4 192.168.0.1 ") && got.ends_with("\r\nhello"),
        "{got:?}"
    );
    let fields: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(fields.get(4), Some(&"56324"), "source port: {got:?}");

    // The same source in a v2 header (TCP over IPv4, no TLVs).
    let mut v2 = V2_SIGNATURE.to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0x00, 12, 192, 168, 0, 1, 192, 168, 0, 11]);
    v2.extend_from_slice(&56324u16.to_be_bytes());
    v2.extend_from_slice(&443u16.to_be_bytes());
    let (_, reply) = send_and_finish(plain, &[&v2[..], b"v2 hello"].concat()).await?;
    assert_eq!(reply, b"v2 hello");
    Ok(())
}

/// Wait (bounded) until every listener is bound, without connecting to
/// any (a probe connection would reach the servers, or send no PROXY
/// header): lb-server logs `lb-server ready` once all are bound.
async fn wait_ready(lb: &LbServer) -> anyhow::Result<()> {
    lb.wait_for_output("lb-server ready").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_proxy_protocol_on_http_sets_x_real_ip_and_x_forwarded_for() -> anyhow::Result<()> {
    let app = HttpBackend::start("app").await;
    let web = free_port();
    let lb = LbServer::start(
        &format!(
            r#"
[listeners.web]
bind = "127.0.0.1:{web}"
protocol = "http"
accept_proxy_protocol = true
[[listeners.web.routes]]
path_prefix = "/"
upstream = "app"
[upstreams.app]
servers = [{{ addr = "{app}" }}]
"#,
            app = app.addr()
        ),
        &[],
    )
    .await?;
    wait_ready(&lb).await?;
    let out = raw_exchange(
        web,
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n\
          GET /headers HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n",
    )
    .await?;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let json = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    let headers: serde_json::Value = serde_json::from_str(json)?;
    assert_eq!(headers["x-real-ip"], "192.168.0.1", "{headers}");
    assert_eq!(headers["x-forwarded-for"], "192.168.0.1", "{headers}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_proxy_header_closes_the_connection() -> anyhow::Result<()> {
    let echo = TcpEcho::start().await;
    let app = HttpBackend::start("app").await;
    let (tcp, web) = (free_port(), free_port());
    let config = format!(
        r#"{tcp_part}
[listeners.web]
bind = "127.0.0.1:{web}"
protocol = "http"
accept_proxy_protocol = true
[[listeners.web.routes]]
path_prefix = "/"
upstream = "app"
[upstreams.app]
servers = [{{ addr = "{app}" }}]
"#,
        tcp_part = tcp_listener("tcp", tcp, &[echo.addr()], "accept_proxy_protocol = true"),
        app = app.addr()
    );
    let lb = LbServer::start(&config, &[]).await?;
    wait_ready(&lb).await?;
    let request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let bad_headers: [&[u8]; 4] = [
        b"PROXY TCP4 192.168.0.1 not-an-address 56324 443\r\n",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 99999 443\r\n",
        // v2 signature with version 3.
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb",
        // No header at all.
        b"GET / HTTP/1.1\r\n",
    ];
    for bad in bad_headers {
        for port in [tcp, web] {
            let out = raw_exchange(port, &[bad, &request[..]].concat()).await?;
            assert!(
                out.is_empty(),
                "{:?} on port {port}: got {:?}",
                String::from_utf8_lossy(bad),
                String::from_utf8_lossy(&out)
            );
        }
    }
    assert_eq!(echo.connections(), 0, "nothing reached the TCP server");
    assert_eq!(app.requests(), 0, "nothing reached the HTTP server");
    Ok(())
}

/// Send `msg` from `client` until its echo comes back (UDP may drop a
/// datagram; bounded); returns the reply.
async fn udp_round_trip(client: &UdpSocket, msg: &str) -> anyhow::Result<String> {
    let mut buf = [0u8; 256];
    for _ in 0..50 {
        // An error (ICMP port unreachable) only means: ask again.
        let _ = client.send(msg.as_bytes()).await;
        let wait = Duration::from_millis(200);
        while let Ok(Ok(n)) = tokio::time::timeout(wait, client.recv(&mut buf)).await {
            let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            // A late answer to an earlier resend is skipped.
            if reply.ends_with(msg) {
                return Ok(reply);
            }
        }
    }
    anyhow::bail!("no answer to {msg:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_echo_goes_through_and_each_clients_datagrams_stay_on_one_server() -> anyhow::Result<()>
{
    let (one, two) = (UdpEcho::named("one:").await, UdpEcho::named("two:").await);
    let port = free_port();
    let admin = free_port();
    let config = format!(
        r#"
[admin]
bind = "127.0.0.1:{admin}"
[listeners.dns]
bind = "127.0.0.1:{port}"
protocol = "udp"
upstream = "dns"
session_timeout = "1h"
[upstreams.dns]
algorithm = "round_robin"
servers = [{{ addr = "{one}" }}, {{ addr = "{two}" }}]
"#,
        one = one.addr(),
        two = two.addr()
    );
    let _lb = LbServer::start(&config, &[local(admin)]).await?;
    let mut prefixes = BTreeSet::new();
    for c in 0..2 {
        let client = UdpSocket::bind("127.0.0.1:0").await?;
        client.connect(local(port)).await?;
        let mut seen = BTreeSet::new();
        for i in 0..10 {
            let msg = format!("client {c} datagram {i}");
            let reply = udp_round_trip(&client, &msg).await?;
            seen.insert(reply.strip_suffix(&msg).unwrap_or_default().to_owned());
        }
        assert_eq!(seen.len(), 1, "client {c} stays on one server: {seen:?}");
        prefixes.extend(seen);
    }
    // Round robin over flows: the two clients are on the two servers.
    assert_eq!(prefixes, BTreeSet::from(["one:".into(), "two:".into()]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_proxy_header_is_dropped_and_harms_no_other_connection() -> anyhow::Result<()> {
    let app = HttpBackend::start("app").await;
    let web = free_port();
    // On an http listener the PROXY header must arrive within header_timeout.
    let lb = LbServer::start(
        &format!(
            r#"
[listeners.web]
bind = "127.0.0.1:{web}"
protocol = "http"
accept_proxy_protocol = true
header_timeout = "300ms"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "app"
[upstreams.app]
servers = [{{ addr = "{app}" }}]
"#,
            app = app.addr()
        ),
        &[],
    )
    .await?;
    wait_ready(&lb).await?;
    let mut slow = TcpStream::connect(local(web)).await?;
    slow.write_all(b"PROXY TCP4 192.168.0.1 ").await?;

    // Meanwhile a complete header is served.
    let out = raw_exchange(
        web,
        b"PROXY TCP4 192.168.0.2 192.168.0.11 56324 443\r\n\
          GET / HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n",
    )
    .await?;
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("app"),
        "{out}"
    );

    // The slow one is closed by the balancer (bounded wait), unanswered.
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, support_e2e::read_to_end_lenient(&mut slow, &mut rest))
        .await
        .map_err(|_| anyhow::anyhow!("the slow connection was never closed"))?;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert_eq!(app.requests(), 1);
    Ok(())
}
