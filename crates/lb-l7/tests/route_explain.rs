//! The dry-run explanation: which route matched and why each earlier one did not.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lb_l7::route::{HeaderMatch, Mismatch, PathMatch, RouteSpec, RouteTable, Target};

fn table() -> RouteTable {
    RouteTable::new(vec![
        RouteSpec::new(Target::Upstream("admin".into()))
            .with_host("admin.example.com")
            .with_path(PathMatch::Exact("/panel".into()))
            .with_methods([Method::POST]),
        RouteSpec::new(Target::Upstream("canary".into()))
            .with_host("*.example.com")
            .with_header(
                HeaderName::from_static("x-canary"),
                HeaderMatch::Exact(HeaderValue::from_static("true")),
            ),
        RouteSpec::new(Target::Split(vec![
            ("api".into(), 95),
            ("canary".into(), 5),
        ]))
        .with_path(PathMatch::Regex("^/api/v[0-9]+/".into()))
        .with_header(
            HeaderName::from_static("authorization"),
            HeaderMatch::Present,
        ),
        RouteSpec::new(Target::Upstream("web".into())).with_path(PathMatch::Prefix("/".into())),
        RouteSpec::new(Target::Upstream("unused".into())),
    ])
    .unwrap()
}

#[test]
fn explain_names_the_match_and_every_earlier_mismatch() {
    let mut headers = HeaderMap::new();
    headers.insert("x-canary", HeaderValue::from_static("false"));
    let why = table().explain(
        &Method::GET,
        Some("www.example.com:8443"),
        "/api/x",
        &headers,
    );
    assert_eq!(why.matched(), Some(3));
    let text = why.to_string();
    let expected = [
        r#"route 0 (host "admin.example.com", path_exact "/panel", methods POST): no match: host "www.example.com" is not "admin.example.com"; path "/api/x" is not "/panel"; method GET is not POST"#,
        r#"route 1 (host "*.example.com", header x-canary = "true"): no match: header x-canary is "false" (route wants "true")"#,
        r#"route 2 (path_regex "^/api/v[0-9]+/", header authorization present): no match: path "/api/x" does not match regex "^/api/v[0-9]+/"; header authorization is missing (route wants it present)"#,
        r#"route 3 (path_prefix "/"): MATCH -> upstream "web""#,
        "1 later route not considered",
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "\n{text}");
    // The shadowed catch-all was evaluated too, and would have matched.
    assert!(why.verdicts()[4].is_match());
    assert_eq!(why.verdicts().len(), 5);
}

#[test]
fn explain_agrees_with_find_and_reports_structured_mismatches() {
    let t = table();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_static("Bearer x"));
    let why = t.explain(&Method::PUT, None, "/api/v2/users", &headers);
    assert_eq!(
        why.matched(),
        t.find(&Method::PUT, None, "/api/v2/users", &headers)
            .map(|r| r.index())
    );
    assert_eq!(why.matched(), Some(2));
    assert!(why.to_string().contains(r#"route 2 (path_regex "^/api/v[0-9]+/", header authorization present): MATCH -> split "api"=95, "canary"=5"#));
    let route1 = &why.verdicts()[1];
    assert_eq!(
        route1.mismatches()[0],
        Mismatch::Host {
            expected: "*.example.com".into(),
            actual: None
        }
    );
    assert!(route1
        .to_string()
        .contains(r#"the request has no host (route wants "*.example.com")"#));
    assert!(route1
        .to_string()
        .contains("header x-canary is missing (route wants \"true\")"));
}

#[test]
fn explain_without_a_match() {
    let t = RouteTable::new(vec![
        RouteSpec::new(Target::Upstream("a".into())).with_host("*.example.com")
    ])
    .unwrap();
    let why = t.explain(&Method::GET, Some("example.com"), "/", &HeaderMap::new());
    assert_eq!(why.matched(), None);
    assert_eq!(
        why.to_string(),
        "route 0 (host \"*.example.com\"): no match: host \"example.com\" is not a subdomain of \"example.com\"\nno route matched"
    );
    let empty =
        RouteTable::new(vec![])
            .unwrap()
            .explain(&Method::GET, None, "/", &HeaderMap::new());
    assert_eq!(empty.to_string(), "no routes configured: no route matched");
}
