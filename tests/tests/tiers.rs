//! TCP listeners through the binary: an L4 tier sending the PROXY protocol
//! to an L7 tier, and a TCP connection that outlives `SIGTERM`.

use std::net::SocketAddr;

use lb_e2e::{eventually, free_port, local, LbServer};
use lb_test_support::{HttpBackend, TcpEcho, UdpEcho};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn raw_get(port: u16) -> anyhow::Result<(SocketAddr, String)> {
    let mut s = TcpStream::connect(local(port)).await?;
    let me = s.local_addr()?;
    s.write_all(b"GET / HTTP/1.1\r\nhost: tiers\r\nconnection: close\r\n\r\n")
        .await?;
    let mut out = String::new();
    tokio::time::timeout(lb_e2e::WAIT, s.read_to_string(&mut out)).await??;
    Ok((me, out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l4_tier_tells_the_l7_tier_the_client_address_with_proxy_protocol() -> anyhow::Result<()>
{
    let app = HttpBackend::start("app").await;
    let (edge, web) = (free_port(), free_port());
    let l7 = LbServer::start(
        &format!(
            r#"
[listeners.web]
bind = "127.0.0.1:{web}"
accept_proxy_protocol = true
[[listeners.web.routes]]
path_prefix = "/"
upstream = "app"
[upstreams.app]
servers = [{{ addr = "{app}" }}]
"#,
            app = app.addr()
        ),
        &[local(web)],
    )
    .await?;
    let _l4 = LbServer::start(
        &format!(
            r#"
[listeners.edge]
bind = "127.0.0.1:{edge}"
protocol = "tcp"
upstream = "l7"
send_proxy_protocol = "v2"
[upstreams.l7]
servers = [{{ addr = "127.0.0.1:{web}" }}]
"#
        ),
        &[local(edge)],
    )
    .await?;

    let (client, reply) = raw_get(edge).await?;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("app"), "{reply}");
    // The L7 tier logs the client's own address (port included), learnt
    // from the PROXY header, not the L4 tier's outgoing connection.
    l7.wait_for_output(&client.to_string()).await?;

    // Without the header the L7 tier refuses to serve.
    let direct = raw_get(web).await;
    assert!(
        direct.as_ref().map_or(true, |(_, r)| !r.contains("200")),
        "{direct:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_connection_finishes_after_sigterm_and_the_process_exits_0() -> anyhow::Result<()> {
    let echo = TcpEcho::start().await;
    let port = free_port();
    let mut lb = LbServer::start(
        &format!(
            r#"
[server]
shutdown_timeout = "30s"
[listeners.pg]
bind = "127.0.0.1:{port}"
protocol = "tcp"
upstream = "db"
[upstreams.db]
servers = [{{ addr = "{echo}" }}]
"#,
            echo = echo.addr()
        ),
        &[local(port)],
    )
    .await?;
    let mut conn = TcpStream::connect(local(port)).await?;
    let mut buf = [0u8; 5];
    conn.write_all(b"hello").await?;
    conn.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hello");

    lb.signal("TERM")?;
    eventually("new connections are refused", || async {
        TcpStream::connect(local(port)).await.is_err().then_some(())
    })
    .await?;
    // The open connection still works.
    conn.write_all(b"again").await?;
    conn.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"again");
    assert!(
        lb.try_wait()?.is_none(),
        "must wait for the open connection"
    );

    conn.shutdown().await?;
    let mut rest = Vec::new();
    tokio::time::timeout(lb_e2e::WAIT, conn.read_to_end(&mut rest)).await??;
    let status = lb.wait_exit().await?;
    assert_eq!(status.code(), Some(0), "{}", lb.output());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_flow_is_proxied_and_follows_a_reload() -> anyhow::Result<()> {
    let (one, two) = (UdpEcho::named("one:").await, UdpEcho::named("two:").await);
    let (port, admin) = (free_port(), free_port());
    let config = |server: SocketAddr| {
        format!(
            r#"
[admin]
bind = "127.0.0.1:{admin}"
[listeners.dns]
bind = "127.0.0.1:{port}"
protocol = "udp"
upstream = "dns"
session_timeout = "1h"
[upstreams.dns]
servers = [{{ addr = "{server}" }}]
"#
        )
    };
    let lb = LbServer::start(&config(one.addr()), &[local(admin)]).await?;
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    client.connect(local(port)).await?;
    assert_eq!(answer(&client).await.as_deref(), Some("one:ping"));

    // Reload onto another server: the listener follows without a restart.
    lb.write_config(&config(two.addr()))?;
    let r = lb_e2e::request(
        &lb_e2e::client(),
        "POST",
        &format!("http://127.0.0.1:{admin}/reload"),
        &[],
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    fresh.connect(local(port)).await?;
    assert_eq!(answer(&fresh).await.as_deref(), Some("two:ping"));
    Ok(())
}

/// Send `ping` until an answer comes (UDP may drop a datagram; bounded).
async fn answer(client: &tokio::net::UdpSocket) -> Option<String> {
    let mut buf = [0u8; 64];
    for _ in 0..50 {
        // Errors (an ICMP "port unreachable" before the listener is bound)
        // only mean: ask again.
        let _ = client.send(b"ping").await;
        let wait = std::time::Duration::from_millis(200);
        if let Ok(Ok(n)) = tokio::time::timeout(wait, client.recv(&mut buf)).await {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    None
}
