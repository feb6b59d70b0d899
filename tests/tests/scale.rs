//! Issue 8, discovery and scale-out: host names resolve to endpoints, two
//! processes share a port with `SO_REUSEPORT`, two instances make the same
//! hash decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use lb_e2e::{client, eventually, free_port, get, local, request, LbServer, Options};
use lb_test_support::HttpBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_localhost_server_name_resolves_to_an_endpoint() -> anyhow::Result<()> {
    let backend = HttpBackend::start("named").await;
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        r#"
[admin]
bind = "127.0.0.1:{admin}"
[listeners.web]
bind = "127.0.0.1:{port}"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"
[upstreams.api]
dns_refresh = "1s"
servers = [{{ addr = "localhost:{backend_port}" }}]
"#,
        backend_port = backend.addr().port()
    );
    let _lb = LbServer::start(&config, &[local(port), local(admin)]).await?;
    let reply = get(&client(), &format!("http://127.0.0.1:{port}/")).await?;
    assert_eq!((reply.status, reply.backend().as_str()), (200, "named"));
    let status = get(&client(), &format!("http://127.0.0.1:{admin}/status"))
        .await?
        .body;
    let v: serde_json::Value = serde_json::from_str(&status)?;
    let addrs: Vec<&str> = v["upstreams"]["api"]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["addr"].as_str())
        .collect();
    assert!(
        addrs.contains(&backend.addr().to_string().as_str()),
        "localhost:{} must be the endpoint {}: {addrs:?}",
        backend.addr().port(),
        backend.addr()
    );
    Ok(())
}

fn tagged_config(port: u16, admin: u16, tag: &str, backend: SocketAddr) -> String {
    format!(
        r#"
[admin]
bind = "127.0.0.1:{admin}"
[listeners.web]
bind = "127.0.0.1:{port}"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"
response_headers = {{ set = {{ "x-instance" = "{tag}" }} }}
[upstreams.api]
servers = [{{ addr = "{backend}" }}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_reuseport_port_both_serve() -> anyhow::Result<()> {
    let backend = HttpBackend::start("shared").await;
    let (port, a1, a2) = (free_port(), free_port(), free_port());
    // Each is up once its own admin port answers (the shared port answers as
    // soon as the first one is).
    let _one = LbServer::start(
        &tagged_config(port, a1, "one", backend.addr()),
        &[local(port), local(a1)],
    )
    .await?;
    let _two = LbServer::start(
        &tagged_config(port, a2, "two", backend.addr()),
        &[local(a2)],
    )
    .await?;
    eventually("instance two ready", || async {
        get(&client(), &format!("http://127.0.0.1:{a2}/ready"))
            .await
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    })
    .await?;
    // The kernel spreads new connections over both sockets by a hash of the
    // 4-tuple: a fresh connection (fresh client port) per request.
    let mut seen = BTreeSet::new();
    for _ in 0..500 {
        let http = client();
        let r = get(&http, &format!("http://127.0.0.1:{port}/")).await?;
        assert_eq!(r.status, 200);
        seen.insert(
            r.headers
                .get("x-instance")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        );
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, BTreeSet::from(["one".to_owned(), "two".to_owned()]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_make_the_same_maglev_and_consistent_hash_picks() -> anyhow::Result<()> {
    let mut backends = Vec::new();
    for name in ["s1", "s2", "s3", "s4", "s5"] {
        backends.push(HttpBackend::start(name).await);
    }
    let servers: Vec<String> = backends
        .iter()
        .map(|b| format!("{{ addr = \"{}\" }}", b.addr()))
        .collect();
    let servers = servers.join(", ");
    let config = |port: u16| {
        format!(
            r#"
[listeners.web]
bind = "127.0.0.1:{port}"
[[listeners.web.routes]]
path_prefix = "/maglev/"
upstream = "maglev"
[[listeners.web.routes]]
path_prefix = "/ring/"
upstream = "ring"
[upstreams.maglev]
algorithm = "maglev"
hash_key = "header:x-key"
servers = [{servers}]
[upstreams.ring]
algorithm = "consistent_hash"
hash_key = "header:x-key"
servers = [{servers}]
"#
        )
    };
    let (p1, p2) = (free_port(), free_port());
    let _one = LbServer::start_with(
        &config(p1),
        Options {
            wait_for: vec![local(p1)],
            ..Options::default()
        },
    )
    .await?;
    let _two = LbServer::start_with(
        &config(p2),
        Options {
            wait_for: vec![local(p2)],
            ..Options::default()
        },
    )
    .await?;

    for algo in ["maglev", "ring"] {
        // Different request orders: only a hash of the key (no counter, no
        // per-process seed) can make the same picks.
        let one = picks(p1, algo, (0..1000).collect()).await?;
        let two = picks(p2, algo, (0..1000).rev().collect()).await?;
        assert_eq!(one.len(), 1000);
        let differ = one.iter().filter(|(k, v)| two.get(*k) != Some(*v)).count();
        assert_eq!(
            differ, 0,
            "{algo}: {differ} of 1000 keys went to different servers"
        );
        let used: BTreeSet<&String> = one.values().collect();
        assert!(
            used.len() >= 4,
            "{algo}: keys must spread over the servers: {used:?}"
        );
        // The same key again goes to the same server.
        let again = picks(p1, algo, (0..50).collect()).await?;
        assert!(
            again.iter().all(|(k, v)| one.get(k) == Some(v)),
            "{algo}: not stable"
        );
    }
    Ok(())
}

async fn picks(port: u16, algo: &str, keys: Vec<u32>) -> anyhow::Result<BTreeMap<u32, String>> {
    let http = client();
    let mut out = BTreeMap::new();
    for k in keys {
        let key = format!("key-{k}");
        let r = request(
            &http,
            "GET",
            &format!("http://127.0.0.1:{port}/{algo}/x"),
            &[("x-key", key.as_str())],
        )
        .await?;
        anyhow::ensure!(r.status == 200, "{algo} key {k}: {}", r.status);
        out.insert(k, r.backend());
    }
    Ok(out)
}
