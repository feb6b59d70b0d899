//! Issue 8, reload: continuous traffic across reloads, invalid reloads, state
//! that survives a reload.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lb_e2e::{client, eventually, free_port, get, local, request, LbServer};
use lb_test_support::HttpBackend;

/// A configuration with an `api` upstream of `servers` (addr, weight) behind
/// `/`, plus `extra` TOML.
fn config(port: u16, admin: u16, servers: &[(SocketAddr, u32)], extra: &str) -> String {
    let servers: Vec<String> = servers
        .iter()
        .map(|(a, w)| format!("{{ addr = \"{a}\", weight = {w} }}"))
        .collect();
    format!(
        r#"
[admin]
bind = "127.0.0.1:{admin}"

[listeners.web]
bind = "127.0.0.1:{port}"
{extra_routes}
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"

[upstreams.api]
algorithm = "round_robin"
servers = [{servers}]
{extra}
"#,
        servers = servers.join(", "),
        extra_routes = if extra.contains("[upstreams.v2]") {
            "[[listeners.web.routes]]\npath_prefix = \"/v2/\"\nupstream = \"v2\"\n"
        } else {
            ""
        },
    )
}

async fn reload(admin: u16) -> anyhow::Result<lb_e2e::Reply> {
    request(
        &client(),
        "POST",
        &format!("http://127.0.0.1:{admin}/reload"),
        &[],
    )
    .await
}

/// api servers (addr, weight), extra TOML, the backends `/` may reach.
type Phase = (Vec<(SocketAddr, u32)>, String, &'static [&'static str]);

#[derive(Debug)]
struct Sample {
    epoch: usize,
    status: u16,
    backend: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn continuous_load_across_five_reloads_sees_no_failure() -> anyhow::Result<()> {
    let b: Vec<HttpBackend> = futures_join(["a", "b", "c", "d", "e"]).await;
    let (a, bb, c, d, e) = (
        b[0].addr(),
        b[1].addr(),
        b[2].addr(),
        b[3].addr(),
        b[4].addr(),
    );
    let (port, admin) = (free_port(), free_port());
    let v2 = format!("[upstreams.v2]\nservers = [{{ addr = \"{e}\" }}]\n");
    // (api servers, extra, the backends `/` may reach)
    let phases: Vec<Phase> = vec![
        (vec![(a, 1), (bb, 1)], String::new(), &["a", "b"]),
        (
            vec![(a, 1), (bb, 1), (c, 1)],
            String::new(),
            &["a", "b", "c"],
        ), // add
        (vec![(bb, 1), (c, 1)], String::new(), &["b", "c"]), // remove
        (vec![(bb, 3), (c, 1)], String::new(), &["b", "c"]), // reweight
        (vec![(bb, 3), (c, 1)], v2.clone(), &["b", "c"]),    // add a route
        (vec![(c, 1), (d, 2)], v2, &["c", "d"]),             // add and remove
    ];
    let lb = LbServer::start(
        &config(port, admin, &phases[0].0, &phases[0].1),
        &[local(port), local(admin)],
    )
    .await?;

    let epoch = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (epoch, stop, samples, errors) = (
            Arc::clone(&epoch),
            Arc::clone(&stop),
            Arc::clone(&samples),
            Arc::clone(&errors),
        );
        load.push(tokio::spawn(async move {
            let http = client();
            let url = format!("http://127.0.0.1:{port}/");
            while !stop.load(Ordering::SeqCst) {
                let e = epoch.load(Ordering::SeqCst);
                match get(&http, &url).await {
                    Ok(r) => samples.lock().unwrap().push(Sample {
                        epoch: e,
                        status: r.status,
                        backend: r.backend(),
                    }),
                    Err(err) => errors.lock().unwrap().push(format!("{err:#}")),
                }
            }
        }));
    }
    let count_in = |k: usize| {
        samples
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.epoch == k)
            .count()
    };

    for (k, (servers, extra, _)) in phases.iter().enumerate() {
        if k > 0 {
            lb.write_config(&config(port, admin, servers, extra))?;
            let r = reload(admin).await?;
            assert_eq!(r.status, 200, "reload {k}: {}", r.body);
            epoch.store(k, Ordering::SeqCst);
        }
        eventually(&format!("100 responses in phase {k}"), || async {
            (count_in(k) >= 100).then_some(())
        })
        .await?;
        if k >= 4 {
            let r = get(&client(), &format!("http://127.0.0.1:{port}/v2/x")).await?;
            assert_eq!(
                (r.status, r.backend().as_str()),
                (200, "e"),
                "the added route"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await?;
    }

    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "failed requests: {errors:?}");
    let samples = samples.lock().unwrap();
    let bad: Vec<&Sample> = samples.iter().filter(|s| s.status != 200).collect();
    assert!(bad.is_empty(), "non-200 answers: {bad:?}");
    for (k, (_, _, expected)) in phases.iter().enumerate() {
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        // Requests started after reload k returned see only the new set; the
        // ones started just before may see either.
        let next: BTreeSet<&str> = phases
            .get(k + 1)
            .map_or(BTreeSet::new(), |p| p.2.iter().copied().collect());
        let mut counts = BTreeMap::<&str, usize>::new();
        for s in samples.iter().filter(|s| s.epoch == k) {
            let name = s.backend.as_str();
            assert!(
                expected.contains(name) || next.contains(name),
                "phase {k}: {name} answered, expected {expected:?}"
            );
            *counts.entry(name).or_default() += 1;
        }
        for name in &expected {
            assert!(
                counts.get(name).copied().unwrap_or(0) > 0,
                "phase {k}: {name} never answered: {counts:?}"
            );
        }
        if k == 3 {
            // b weighs 3, c 1.
            let (nb, nc) = (counts["b"], counts["c"]);
            assert!(
                nb >= 2 * nc && nb <= 4 * nc,
                "phase 3: b={nb} c={nc}, expected about 3:1"
            );
        }
    }
    Ok(())
}

async fn futures_join<const N: usize>(names: [&str; N]) -> Vec<HttpBackend> {
    let mut out = Vec::new();
    for n in names {
        out.push(HttpBackend::start(n).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reload_keeps_serving_and_says_why() -> anyhow::Result<()> {
    let a = HttpBackend::start("a").await;
    let b = HttpBackend::start("b").await;
    let (port, admin) = (free_port(), free_port());
    let lb = LbServer::start(
        &config(port, admin, &[(a.addr(), 1)], ""),
        &[local(port), local(admin)],
    )
    .await?;
    let url = format!("http://127.0.0.1:{port}/");
    let http = client();

    let invalid = config(port, admin, &[(a.addr(), 1)], "")
        .replace(
            "algorithm = \"round_robin\"",
            "algorithm = \"round_robin\"\nconnect_timeout = \"soon\"",
        )
        .replace(&format!("\"{}\"", a.addr()), "\"10.0.0.1\"");
    lb.write_config(&invalid)?;
    // POST /reload: 400 with every error.
    let r = reload(admin).await?;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("upstreams.api.connect_timeout"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("upstreams.api.servers[0].addr"),
        "{}",
        r.body
    );
    assert_eq!(
        get(&http, &url).await?.backend(),
        "a",
        "still the old configuration"
    );
    // SIGHUP: the error goes to the log.
    lb.signal("HUP")?;
    lb.wait_for_output("upstreams.api.connect_timeout").await?;
    assert_eq!(get(&http, &url).await?.backend(), "a");
    let metrics = get(&http, &format!("http://127.0.0.1:{admin}/metrics"))
        .await?
        .body;
    let failures: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("lb_config_reloads_total{") && l.contains("\"failure\""))
        .collect();
    assert_eq!(failures.len(), 1, "{metrics}");
    assert!(failures[0].ends_with(" 2"), "{}", failures[0]);

    // A valid file by SIGHUP takes effect.
    lb.write_config(&config(port, admin, &[(b.addr(), 1)], ""))?;
    lb.signal("HUP")?;
    eventually("b answers after SIGHUP", || async {
        get(&client(), &url)
            .await
            .ok()
            .filter(|r| r.backend() == "b")
            .map(|_| ())
    })
    .await?;
    Ok(())
}

async fn states(admin: u16) -> anyhow::Result<BTreeMap<String, String>> {
    let body = get(&client(), &format!("http://127.0.0.1:{admin}/status"))
        .await?
        .body;
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let mut out = BTreeMap::new();
    for s in v["upstreams"]["api"]["servers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.insert(
            s["addr"].as_str().unwrap_or_default().to_owned(),
            s["state"].as_str().unwrap_or_default().to_owned(),
        );
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stays_keeps_its_unhealthy_or_ejected_state() -> anyhow::Result<()> {
    let (a, b, c, d) = (
        HttpBackend::start("a").await,
        HttpBackend::start("b").await,
        HttpBackend::start("c").await,
        HttpBackend::start("d").await,
    );
    b.set_healthy(false); // fails active checks → unhealthy
    c.set_status(500); // fails real traffic → ejected
    let health = r#"
[upstreams.api.health]
check = "http"
path = "/health"
interval = "10s"
timeout = "2s"
unhealthy_threshold = 1
healthy_threshold = 1

[upstreams.api.passive]
consecutive_failures = 1
ejection_time = "1h"
max_ejected_percent = 100
"#;
    let (port, admin) = (free_port(), free_port());
    let servers = [(a.addr(), 1), (b.addr(), 1), (c.addr(), 1)];
    let lb = LbServer::start(
        &config(port, admin, &servers, health),
        &[local(port), local(admin)],
    )
    .await?;
    let (ka, kb, kc, kd) = (
        a.addr().to_string(),
        b.addr().to_string(),
        c.addr().to_string(),
        d.addr().to_string(),
    );

    eventually("b unhealthy", || async {
        states(admin)
            .await
            .ok()
            .filter(|s| s.get(&kb).map(String::as_str) == Some("unhealthy"))
    })
    .await?;
    eventually("c ejected", || async {
        let _ = get(&client(), &format!("http://127.0.0.1:{port}/")).await;
        states(admin)
            .await
            .ok()
            .filter(|s| s.get(&kc).map(String::as_str) == Some("ejected"))
    })
    .await?;

    // Reload: reweight a, add d; b and c stay.
    let servers = [(a.addr(), 2), (b.addr(), 1), (c.addr(), 1), (d.addr(), 1)];
    lb.write_config(&config(port, admin, &servers, health))?;
    let r = reload(admin).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = states(admin).await?;
    assert_eq!(s.get(&kb).map(String::as_str), Some("unhealthy"), "{s:?}");
    assert_eq!(s.get(&kc).map(String::as_str), Some("ejected"), "{s:?}");
    assert_eq!(s.get(&ka).map(String::as_str), Some("healthy"), "{s:?}");
    assert_eq!(s.get(&kd).map(String::as_str), Some("healthy"), "{s:?}");
    let http = client();
    for _ in 0..12 {
        let r = get(&http, &format!("http://127.0.0.1:{port}/")).await?;
        assert_eq!(r.status, 200);
        assert!(
            ["a", "d"].contains(&r.backend().as_str()),
            "{}",
            r.backend()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_added_bind_and_removed_ones_drain() -> anyhow::Result<()> {
    let gate = lb_e2e::GateBackend::start().await?;
    let (old, new, admin) = (free_port(), free_port(), free_port());
    let config = |port: u16, name: &str| {
        format!(
            r#"
[admin]
bind = "127.0.0.1:{admin}"
[listeners.{name}]
bind = "127.0.0.1:{port}"
[[listeners.{name}.routes]]
path_prefix = "/"
upstream = "api"
[upstreams.api]
servers = [{{ addr = "{gate}" }}]
"#,
            gate = gate.addr()
        )
    };
    let lb = LbServer::start(&config(old, "web"), &[local(old), local(admin)]).await?;
    // A request in flight on the listener about to be removed.
    let slow =
        tokio::spawn(async move { get(&client(), &format!("http://127.0.0.1:{old}/slow")).await });
    eventually("the slow request reached the server", || async {
        (gate.waiting() == 1).then_some(())
    })
    .await?;

    lb.write_config(&config(new, "web2"))?;
    let r = reload(admin).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("+web2") && r.body.contains("-web"),
        "{}",
        r.body
    );
    // The new listener serves at once.
    let fast = get(&client(), &format!("http://127.0.0.1:{new}/")).await?;
    assert_eq!((fast.status, fast.body.as_str()), (200, "fast"));
    // The removed one accepts no more connections...
    eventually("the removed listener refuses connections", || async {
        tokio::net::TcpStream::connect(local(old))
            .await
            .is_err()
            .then_some(())
    })
    .await?;
    // ...and its request in flight completes.
    assert!(!slow.is_finished());
    gate.open();
    let reply = slow.await??;
    assert_eq!((reply.status, reply.body.as_str()), (200, "slow done"));
    Ok(())
}
