//! Issue 8, graceful shutdown: a request in flight at `SIGTERM` completes,
//! `/ready` turns 503, new connections are refused, the process exits 0.

use lb_e2e::{client, eventually, free_port, get, local, GateBackend, LbServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_completes_after_sigterm_and_the_process_exits_0() -> anyhow::Result<()> {
    let gate = GateBackend::start().await?;
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        r#"
[server]
shutdown_timeout = "30s"

[admin]
bind = "127.0.0.1:{admin}"

[listeners.web]
bind = "127.0.0.1:{port}"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "slow"

[upstreams.slow]
servers = [{{ addr = "{addr}" }}]
"#,
        addr = gate.addr()
    );
    let mut lb = LbServer::start(&config, &[local(port), local(admin)]).await?;
    let http = client();
    let slow = tokio::spawn({
        let http = http.clone();
        async move { get(&http, &format!("http://127.0.0.1:{port}/slow")).await }
    });
    eventually("the slow request reached the server", || async {
        (gate.waiting() == 1).then_some(())
    })
    .await?;

    lb.signal("TERM")?;
    eventually("/ready turns 503", || async {
        get(&client(), &format!("http://127.0.0.1:{admin}/ready"))
            .await
            .ok()
            .filter(|r| r.status == 503)
            .map(|_| ())
    })
    .await?;
    eventually("new connections are refused", || async {
        tokio::net::TcpStream::connect(local(port))
            .await
            .is_err()
            .then_some(())
    })
    .await?;
    assert!(
        lb.try_wait()?.is_none(),
        "must wait for the request in flight"
    );
    assert!(!slow.is_finished());

    gate.open();
    let reply = slow.await??;
    assert_eq!((reply.status, reply.body.as_str()), (200, "slow done"));
    let status = lb.wait_exit().await?;
    assert_eq!(status.code(), Some(0), "{}", lb.output());
    Ok(())
}
