//! Issue 3 through the real binary: one request path, weights, environment
//! overrides, the demo.

use std::collections::BTreeMap;

use lb_e2e::{client, free_port, get, local, LbServer, Options};
use lb_test_support::HttpBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_3_1_1_give_exactly_3_1_1_over_500_requests() -> anyhow::Result<()> {
    let (a, b, c) = (
        HttpBackend::start("a").await,
        HttpBackend::start("b").await,
        HttpBackend::start("c").await,
    );
    let port = free_port();
    let config = format!(
        r#"
[listeners.web]
bind = "127.0.0.1:{port}"
protocol = "http"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"

[upstreams.api]
algorithm = "round_robin"
servers = [
  {{ addr = "{a}", weight = 3 }},
  {{ addr = "{b}" }},
  {{ addr = "{c}", weight = 1 }},
]
"#,
        a = a.addr(),
        b = b.addr(),
        c = c.addr()
    );
    let _lb = LbServer::start(&config, &[local(port)]).await?;
    let http = client();
    let mut seen = BTreeMap::<String, u32>::new();
    for _ in 0..500 {
        let reply = get(&http, &format!("http://127.0.0.1:{port}/")).await?;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, reply.backend(), "body is the backend's name");
        *seen.entry(reply.backend()).or_default() += 1;
    }
    let expected: BTreeMap<String, u32> = [
        ("a".to_owned(), 300),
        ("b".to_owned(), 100),
        ("c".to_owned(), 100),
    ]
    .into();
    assert_eq!(seen, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_override_takes_effect() -> anyhow::Result<()> {
    let backend = HttpBackend::start("only").await;
    let (file_port, env_port) = (free_port(), free_port());
    let config = format!(
        r#"
[listeners.web]
bind = "127.0.0.1:{file_port}"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"

[upstreams.api]
servers = [{{ addr = "{addr}" }}]
"#,
        addr = backend.addr()
    );
    let _lb = LbServer::start_with(
        &config,
        Options {
            env: vec![("LB_LISTENERS__WEB__BIND", format!("127.0.0.1:{env_port}"))],
            wait_for: vec![local(env_port)],
            ..Options::default()
        },
    )
    .await?;
    let reply = get(&client(), &format!("http://127.0.0.1:{env_port}/")).await?;
    assert_eq!((reply.status, reply.body.as_str()), (200, "only"));
    assert!(
        tokio::net::TcpStream::connect(local(file_port))
            .await
            .is_err(),
        "the file's address must not be bound when the environment overrides it"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_answers_and_rotates_over_three_backends() -> anyhow::Result<()> {
    let (port, admin) = (free_port(), free_port());
    let mut lb = LbServer::start_with(
        "",
        Options {
            args: Some(vec![
                "demo".into(),
                "--port".into(),
                port.to_string(),
                "--admin-port".into(),
                admin.to_string(),
            ]),
            wait_for: vec![local(port), local(admin)],
            ..Options::default()
        },
    )
    .await?;
    let http = client();
    let mut names = Vec::new();
    for _ in 0..6 {
        let reply = get(&http, &format!("http://127.0.0.1:{port}/")).await?;
        assert_eq!(reply.status, 200);
        names.push(reply.body.trim().to_owned());
    }
    // Round robin: three distinct backends, then the same cycle again.
    assert_eq!(names[..3], names[3..]);
    let mut distinct = names[..3].to_vec();
    distinct.sort();
    assert_eq!(distinct, ["alpha", "beta", "gamma"]);
    lb.wait_for_output("curl http://127.0.0.1").await?;
    let ready = get(&http, &format!("http://127.0.0.1:{admin}/ready")).await?;
    assert_eq!(ready.status, 200);

    lb.signal("INT")?;
    let status = lb.wait_exit().await?;
    assert!(status.success(), "Ctrl-C exits 0, got {status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_port_in_use_is_one_line_naming_it() -> anyhow::Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let out = lb_e2e::run_cli(
        &[
            "demo",
            "--port",
            &port.to_string(),
            "--admin-port",
            &free_port().to_string(),
        ],
        &[],
    )?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("lb-server:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&format!("127.0.0.1:{port}")), "{stderr}");
    Ok(())
}
