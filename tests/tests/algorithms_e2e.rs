//! Issue 4 through the real binary: every SPEC algorithm name works from the
//! configuration, and each behaves as its kind promises (spreading
//! algorithms spread, hash algorithms keep a key on one server).

use std::collections::{BTreeMap, BTreeSet};

use lb_e2e::{client, free_port, local, request, LbServer};
use lb_test_support::HttpBackend;

const SPREADING: [&str; 5] = ["round_robin", "least_conn", "random", "p2c", "peak_ewma"];
const KEYED: [&str; 2] = ["consistent_hash", "maglev"];

/// One listener, one route per algorithm (`/<name>/`), one upstream per
/// algorithm over the same three backends.
fn config(port: u16, servers: &str) -> String {
    let mut out = format!("[listeners.web]\nbind = \"127.0.0.1:{port}\"\nprotocol = \"http\"\n");
    let all = SPREADING
        .iter()
        .chain(KEYED.iter())
        .chain(["ip_hash"].iter());
    for name in all.clone() {
        out.push_str(&format!(
            "[[listeners.web.routes]]\npath_prefix = \"/{name}/\"\nupstream = \"{name}\"\n"
        ));
    }
    for name in all {
        out.push_str(&format!(
            "[upstreams.{name}]\nalgorithm = \"{name}\"\nservers = [{servers}]\n"
        ));
        if KEYED.contains(name) {
            out.push_str("hash_key = \"header:x-key\"\n");
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_algorithm_name_works_from_config() -> anyhow::Result<()> {
    let backends = [
        HttpBackend::start("a").await,
        HttpBackend::start("b").await,
        HttpBackend::start("c").await,
    ];
    let servers = backends
        .iter()
        .map(|b| format!("{{ addr = \"{}\" }}", b.addr()))
        .collect::<Vec<_>>()
        .join(", ");
    let port = free_port();
    let _lb = LbServer::start(&config(port, &servers), &[local(port)]).await?;
    let http = client();

    // Spreading algorithms: every request answered, and more than one server
    // used over 60 sequential requests (all idle servers: round_robin and
    // least_conn rotate; random, p2c and peak_ewma draw at random, and
    // landing 60 times on one of three servers has probability ~3^-59).
    for name in SPREADING {
        let mut seen = BTreeMap::<String, u32>::new();
        for _ in 0..60 {
            let reply = request(
                &http,
                "GET",
                &format!("http://127.0.0.1:{port}/{name}/"),
                &[],
            )
            .await?;
            assert_eq!(reply.status, 200, "{name}: {reply:?}");
            *seen.entry(reply.backend()).or_default() += 1;
        }
        assert!(seen.len() >= 2, "{name} used only {seen:?}");
        if name == "round_robin" || name == "least_conn" {
            assert_eq!(
                seen.values().copied().collect::<Vec<_>>(),
                [20, 20, 20],
                "{name}: {seen:?}"
            );
        }
    }

    // Hash algorithms keyed by a header: a key always lands on the same
    // server, and 30 keys do not all land on one.
    for name in KEYED {
        let mut owners = BTreeSet::new();
        for key in 0..30 {
            let key = format!("user-{key}");
            let url = format!("http://127.0.0.1:{port}/{name}/");
            let first = request(&http, "GET", &url, &[("x-key", &key)]).await?;
            assert_eq!(first.status, 200, "{name}: {first:?}");
            for _ in 0..3 {
                let again = request(&http, "GET", &url, &[("x-key", &key)]).await?;
                assert_eq!(again.backend(), first.backend(), "{name}: key {key} moved");
            }
            owners.insert(first.backend());
        }
        assert!(owners.len() >= 2, "{name}: 30 keys all on {owners:?}");
    }

    // ip_hash keys on the client address: this client (127.0.0.1) always
    // lands on the same server.
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let reply = request(
            &http,
            "GET",
            &format!("http://127.0.0.1:{port}/ip_hash/"),
            &[],
        )
        .await?;
        assert_eq!(reply.status, 200, "ip_hash: {reply:?}");
        seen.insert(reply.backend());
    }
    assert_eq!(seen.len(), 1, "ip_hash moved one client: {seen:?}");
    Ok(())
}
