//! `Upgrade` tunnelling: a WebSocket-style handshake, then bytes both ways.

use http::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use lb_l7::{ListenerOptions, UpstreamOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Echoes everything after the upgrade, after greeting with `hello\n`.
async fn echo_backend() -> FnBackend {
    FnBackend::start(|mut req| async move {
        if req.headers().get("upgrade").is_none() {
            return Response::new(full("not an upgrade"));
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut io = TokioIo::new(upgraded);
            io.write_all(b"hello\n").await.unwrap();
            let mut buf = [0u8; 1024];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => io.write_all(&buf[..n]).await.unwrap(),
                }
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            .body(empty())
            .unwrap()
    })
    .await
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 8192, "head too long");
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "closed during head"
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn websocket_upgrade_is_tunnelled_both_ways() {
    let backend = echo_backend().await;
    let up = upstream("ws", &[backend.addr], UpstreamOptions::default());
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("ws")], &[&up])).await;

    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let head = read_head(&mut s).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );

    // Server to client first, then client to server and back.
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello\n");
    for msg in [&b"ping 1"[..], b"a longer second message"] {
        s.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
    }

    // The tunnel counts as in flight on the server until it closes.
    let state = std::sync::Arc::clone(up.balancer().snapshot().endpoints()[0].state());
    assert_eq!(state.in_flight(), 1);
    drop(s);
    for _ in 0..1000 {
        if state.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(state.in_flight(), 0);
}
