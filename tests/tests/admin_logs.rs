//! Access logs and per-listener byte counters through the real binary: one
//! JSON line per HTTP request and per TCP connection, with the fields SPEC §4
//! lists.

// Test helpers: a failed bind or a malformed line should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lb_e2e::{client, eventually, free_port, get, local, LbServer};
use lb_test_support::{HttpBackend, TcpEcho};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The JSON access log lines written so far.
fn access_lines(lb: &LbServer) -> Vec<Value> {
    lb.output()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "lb::access")
        .collect()
}

#[tokio::test]
async fn json_access_log_has_a_line_per_request_and_per_connection() {
    let backend = HttpBackend::start("a").await;
    let echo = TcpEcho::start().await;
    let (web, tcp, admin) = (free_port(), free_port(), free_port());
    let config = format!(
        "[admin]\nbind = \"127.0.0.1:{admin}\"\n\
         [log]\nlevel = \"warn\"\nformat = \"json\"\naccess_log = true\n\
         [listeners.web]\nbind = \"127.0.0.1:{web}\"\nprotocol = \"http\"\n\
         [[listeners.web.routes]]\npath_prefix = \"/\"\nupstream = \"api\"\n\
         [listeners.db]\nbind = \"127.0.0.1:{tcp}\"\nprotocol = \"tcp\"\nupstream = \"echo\"\n\
         [upstreams.api]\nservers = [{{ addr = \"{}\" }}]\n\
         [upstreams.echo]\nservers = [{{ addr = \"{}\" }}]\n",
        backend.addr(),
        echo.addr()
    );
    let lb = LbServer::start(&config, &[local(web), local(tcp), local(admin)])
        .await
        .unwrap();
    let c = client();

    let reply = get(&c, &format!("http://127.0.0.1:{web}/some/path?secret=1"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);

    let mut conn = TcpStream::connect(local(tcp)).await.unwrap();
    conn.write_all(b"hello").await.unwrap();
    conn.shutdown().await.unwrap();
    let mut back = Vec::new();
    conn.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"hello");
    drop(conn);

    // The harness's readiness probe was a TCP connection too (0 bytes).
    let lines = eventually("the request's and the connection's lines", || async {
        let lines = access_lines(&lb);
        let tcp_done = lines
            .iter()
            .any(|l| l["listener"] == "db" && l["bytes_up"] == 5);
        (tcp_done && lines.iter().any(|l| l["listener"] == "web")).then_some(lines)
    })
    .await
    .unwrap();
    let web_lines: Vec<&Value> = lines.iter().filter(|l| l["listener"] == "web").collect();
    assert_eq!(web_lines.len(), 1, "one line per request: {lines:?}");
    let http = web_lines[0];
    assert_eq!(http["method"], "GET");
    assert_eq!(http["path"], "/some/path", "no query string in the log");
    assert_eq!(http["status"], 200);
    assert_eq!(http["upstream"], "api");
    assert_eq!(http["server"], backend.addr().to_string());
    assert_eq!(http["bytes_in"], 0);
    assert_eq!(http["bytes_out"], 1, "the body is the backend's name");
    assert!(http["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(http["host"].as_str().unwrap().starts_with("127.0.0.1"));
    assert!(http["duration_ms"].as_f64().is_some());

    let tcp_line = lines
        .iter()
        .find(|l| l["listener"] == "db" && l["bytes_up"] == 5)
        .unwrap();
    assert_eq!(tcp_line["server"], echo.addr().to_string());
    assert_eq!(tcp_line["bytes_up"], 5);
    assert_eq!(tcp_line["bytes_down"], 5);
    assert!(tcp_line["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(tcp_line["duration_ms"].as_f64().is_some());

    // `level = "warn"` hides other info lines but not the access log.
    assert!(!lb.output().contains("\"level\":\"INFO\",\"fields\""));
    let m = get(&c, &format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .unwrap()
        .body;
    for (listener, direction, value) in [("db", "in", 5), ("db", "out", 5), ("web", "out", 1)] {
        let series =
            format!("lb_bytes_total{{listener=\"{listener}\",direction=\"{direction}\"}} {value}");
        assert!(m.contains(&series), "{series} not in:\n{m}");
    }
}
