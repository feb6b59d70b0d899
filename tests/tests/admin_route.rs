//! `lb-server route` through the real binary (issue 9): it explains a
//! header-matched canary route, a fall-through to the default route, and the
//! server a hash key maps to.

// Test helpers: a failed write or run should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lb_e2e::{run_cli, TempDir};

const CONFIG: &str = r#"
[listeners.web]
bind = "127.0.0.1:18443"
protocol = "http"

[[listeners.web.routes]]
path_prefix = "/api/v2/"
headers = { "x-canary" = "true" }
upstream = "canary"

[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"

[upstreams.api]
algorithm = "round_robin"
servers = [{ addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002", weight = 3 }]

[upstreams.canary]
algorithm = "consistent_hash"
hash_key = "header:x-user"
servers = [{ addr = "127.0.0.1:9101" }, { addr = "127.0.0.1:9102" }, { addr = "127.0.0.1:9103" }]
"#;

/// Run `route` on [`CONFIG`]: (exit code, stdout).
fn route(args: &[&str]) -> (i32, String) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lb.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let path = path.to_string_lossy().into_owned();
    let mut all = vec!["route", "-c", path.as_str()];
    all.extend_from_slice(args);
    let out = run_cli(&all, &[]).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[test]
fn explains_a_header_matched_canary_route() {
    let url = "http://example.com:18443/api/v2/x";
    let (code, out) = route(&["GET", url, "-H", "x-canary: true", "-H", "x-user: alice"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("listener \"web\""), "{out}");
    let matched = out
        .lines()
        .find(|l| l.contains("MATCH"))
        .unwrap_or_default();
    assert!(
        matched.contains("route 0") && matched.contains("upstream \"canary\""),
        "{out}"
    );
    assert!(out.contains("1 later route not considered"), "{out}");

    // The key maps to one of the canary servers, the same one every time.
    let server = |out: &str| {
        let line = out
            .lines()
            .find(|l| l.contains("key header x-user"))
            .unwrap_or_default()
            .to_owned();
        line.rsplit_once("-> server ")
            .map(|(_, s)| s.split(' ').next().unwrap_or_default().to_owned())
    };
    let alice = server(&out).unwrap_or_else(|| panic!("no server for the key:\n{out}"));
    assert!(
        ["127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"].contains(&alice.as_str()),
        "{out}"
    );
    let (_, again) = route(&["GET", url, "-H", "x-canary: true", "-H", "x-user: alice"]);
    assert_eq!(server(&again), Some(alice));
}

#[test]
fn explains_why_the_canary_route_did_not_match_and_falls_through() {
    let (code, out) = route(&[
        "GET",
        "http://example.com:18443/api/v2/x",
        "-H",
        "x-canary: false",
    ]);
    assert_eq!(code, 0, "{out}");
    let first = out
        .lines()
        .find(|l| l.contains("route 0"))
        .unwrap_or_default();
    assert!(
        first.contains("no match") && first.contains("x-canary"),
        "{out}"
    );
    assert!(
        first.contains("\"false\"") && first.contains("\"true\""),
        "says what it got and wanted: {out}"
    );
    let second = out
        .lines()
        .find(|l| l.contains("route 1"))
        .unwrap_or_default();
    assert!(
        second.contains("MATCH") && second.contains("upstream \"api\""),
        "{out}"
    );
    assert!(out.contains("round_robin"), "{out}");

    // A path outside the canary prefix: the reason names the path.
    let (_, out) = route(&[
        "GET",
        "http://example.com:18443/static/app.js",
        "-H",
        "x-canary: true",
    ]);
    let first = out
        .lines()
        .find(|l| l.contains("route 0"))
        .unwrap_or_default();
    assert!(
        first.contains("/static/app.js") && first.contains("/api/v2/"),
        "{out}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let (code, out) = route(&["GET", "not-a-url"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("URL"), "{out}");
}
