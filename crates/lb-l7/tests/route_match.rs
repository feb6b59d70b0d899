//! Each route matcher, first-match order, and table validation.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use lb_l7::route::{
    request_host, HeaderMatch, PathMatch, RouteError, RouteSpec, RouteTable, Target,
};

fn up(name: &str) -> RouteSpec {
    RouteSpec::new(Target::Upstream(name.into()))
}

fn table(specs: Vec<RouteSpec>) -> RouteTable {
    RouteTable::new(specs).unwrap()
}

/// The upstream of the route `find` picks, for a GET without headers.
fn get(t: &RouteTable, host: Option<&str>, path: &str) -> Option<String> {
    t.find(&Method::GET, host, path, &HeaderMap::new())
        .map(|r| r.pick_upstream(0).to_owned())
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn exact_host_ignores_case_port_and_trailing_dot() {
    let t = table(vec![up("a").with_host("Example.COM")]);
    for host in [
        "example.com",
        "EXAMPLE.com",
        "example.com:8080",
        "example.com.",
        "example.com.:443",
    ] {
        assert_eq!(get(&t, Some(host), "/").as_deref(), Some("a"), "{host}");
    }
    for host in [
        "www.example.com",
        "example.org",
        "example.co",
        "xexample.com",
    ] {
        assert_eq!(get(&t, Some(host), "/"), None, "{host}");
    }
    assert_eq!(
        get(&t, None, "/"),
        None,
        "a request without a host never matches a host matcher"
    );
}

#[test]
fn wildcard_host_matches_subdomains_not_the_apex() {
    let t = table(vec![up("wild").with_host("*.example.com"), up("rest")]);
    for host in ["a.example.com", "A.B.Example.Com:8443", "x-1.example.com"] {
        assert_eq!(get(&t, Some(host), "/").as_deref(), Some("wild"), "{host}");
    }
    for host in ["example.com", "badexample.com", "example.com.evil.net"] {
        assert_eq!(get(&t, Some(host), "/").as_deref(), Some("rest"), "{host}");
    }
}

#[test]
fn ipv6_literal_host() {
    let t = table(vec![up("v6").with_host("[::1]")]);
    assert_eq!(get(&t, Some("[::1]:8080"), "/").as_deref(), Some("v6"));
    assert_eq!(get(&t, Some("[::2]"), "/"), None);
}

#[test]
fn request_host_prefers_the_uri_authority() {
    let h1 = Request::get("/x")
        .header("host", "Site.example:81")
        .body(())
        .unwrap();
    assert_eq!(request_host(&h1), Some("Site.example"));
    // HTTP/2 carries :authority in the URI; an absolute-form HTTP/1.1 target does too.
    let h2 = Request::get("https://a.example:8443/x")
        .header("host", "b.example")
        .body(())
        .unwrap();
    assert_eq!(request_host(&h2), Some("a.example"));
    let none = Request::get("/x").body(()).unwrap();
    assert_eq!(request_host(&none), None);
    let t = table(vec![up("a").with_host("a.example")]);
    assert_eq!(t.find_request(&h2).map(|r| r.index()), Some(0));
    assert!(t.find_request(&h1).is_none());
}

#[test]
fn path_prefix_is_a_plain_string_prefix() {
    let t = table(vec![up("api").with_path(PathMatch::Prefix("/api".into()))]);
    for path in ["/api", "/api/", "/api/v2/x", "/apix"] {
        assert_eq!(get(&t, None, path).as_deref(), Some("api"), "{path}");
    }
    for path in ["/", "/ap", "/API", "/v1/api"] {
        assert_eq!(get(&t, None, path), None, "{path}");
    }
}

#[test]
fn path_exact_is_the_whole_path() {
    let t = table(vec![up("x").with_path(PathMatch::Exact("/health".into()))]);
    assert_eq!(get(&t, None, "/health").as_deref(), Some("x"));
    for path in ["/health/", "/healthz", "/Health", "/"] {
        assert_eq!(get(&t, None, path), None, "{path}");
    }
}

#[test]
fn path_regex_is_anchored_only_as_written() {
    let t = table(vec![
        up("anchored").with_path(PathMatch::Regex("^/v[0-9]+/users/[0-9]+$".into())),
        up("floating").with_path(PathMatch::Regex("/v[0-9]+/".into())),
    ]);
    assert_eq!(get(&t, None, "/v2/users/42").as_deref(), Some("anchored"));
    // Fails the anchored pattern (trailing part), matches the unanchored one anywhere.
    assert_eq!(get(&t, None, "/v2/users/42/x").as_deref(), Some("floating"));
    assert_eq!(get(&t, None, "/api/v10/z").as_deref(), Some("floating"));
    assert_eq!(get(&t, None, "/v/users/1"), None);
}

#[test]
fn methods_are_any_of() {
    let t = table(vec![up("rw").with_methods([Method::POST, Method::PUT])]);
    let h = HeaderMap::new();
    assert!(t.find(&Method::POST, None, "/", &h).is_some());
    assert!(t.find(&Method::PUT, None, "/", &h).is_some());
    assert!(t.find(&Method::GET, None, "/", &h).is_none());
    assert!(t
        .find(&Method::from_bytes(b"PURGE").unwrap(), None, "/", &h)
        .is_none());
}

#[test]
fn headers_must_all_match_exact_value_or_presence() {
    let name = |s: &'static str| HeaderName::from_static(s);
    let t = table(vec![up("canary")
        .with_header(
            name("x-canary"),
            HeaderMatch::Exact(HeaderValue::from_static("true")),
        )
        .with_header(name("x-user"), HeaderMatch::Present)]);
    let find = |pairs: &[(&'static str, &'static str)]| {
        t.find(&Method::GET, None, "/", &headers(pairs)).is_some()
    };
    assert!(find(&[("x-canary", "true"), ("x-user", "")]));
    assert!(
        find(&[
            ("x-canary", "false"),
            ("x-canary", "true"),
            ("x-user", "bob")
        ]),
        "any value line may match"
    );
    assert!(!find(&[("x-canary", "true")]), "x-user missing");
    assert!(!find(&[("x-user", "bob")]), "x-canary missing");
    assert!(
        !find(&[("x-canary", "True"), ("x-user", "bob")]),
        "values are case-sensitive"
    );
    assert!(!find(&[("x-canary", "true "), ("x-user", "bob")]));
    assert!(
        find(&[("X-Canary", "true"), ("X-USER", "bob")]),
        "names are case-insensitive"
    );
}

#[test]
fn a_route_without_matchers_matches_everything() {
    let t = table(vec![up("all")]);
    assert!(t.routes()[0].spec().matches_everything());
    let h = headers(&[("x-anything", "1")]);
    assert!(t
        .find(&Method::DELETE, Some("whatever.test"), "/deep/path", &h)
        .is_some());
    assert!(t.find(&Method::GET, None, "", &HeaderMap::new()).is_some());
}

#[test]
fn first_match_wins_in_order() {
    let t = table(vec![
        up("exact").with_path(PathMatch::Exact("/api/login".into())),
        up("api").with_path(PathMatch::Prefix("/api/".into())),
        up("host").with_host("example.com"),
        up("default"),
        up("never").with_path(PathMatch::Prefix("/api/".into())),
    ]);
    let route = |host, path| {
        t.find(&Method::GET, host, path, &HeaderMap::new())
            .map(|r| r.index())
    };
    assert_eq!(route(Some("example.com"), "/api/login"), Some(0));
    assert_eq!(route(Some("example.com"), "/api/users"), Some(1));
    assert_eq!(route(Some("example.com"), "/"), Some(2));
    assert_eq!(route(Some("other.com"), "/"), Some(3));
    assert_eq!(
        t.routes().iter().map(|r| r.index()).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(RouteTable::new(vec![])
        .unwrap()
        .find(&Method::GET, None, "/", &HeaderMap::new())
        .is_none());
}

#[test]
fn bad_specs_are_rejected_naming_the_route() {
    let err = |spec: RouteSpec| RouteTable::new(vec![up("ok"), spec]).unwrap_err();
    assert!(matches!(
        err(up("a").with_host("a.*.com")),
        RouteError::Host { route: 1, .. }
    ));
    assert!(matches!(
        err(up("a").with_host("a.com:80")),
        RouteError::Host { route: 1, .. }
    ));
    assert!(matches!(
        err(up("a").with_path(PathMatch::Prefix("api".into()))),
        RouteError::Path { route: 1, .. }
    ));
    assert!(matches!(
        err(up("a").with_path(PathMatch::Exact(String::new()))),
        RouteError::Path { route: 1, .. }
    ));
    let regex = err(up("a").with_path(PathMatch::Regex("^/(unclosed".into())));
    assert!(matches!(regex, RouteError::Regex { route: 1, .. }));
    assert!(regex
        .to_string()
        .starts_with("route 1: path_regex \"^/(unclosed\" is not a valid regular expression"));
    assert!(matches!(err(up("")), RouteError::Target { route: 1, .. }));
    assert!(matches!(
        err(RouteSpec::default()),
        RouteError::Target { route: 1, .. }
    ));
    let zero = RouteSpec::new(Target::Split(vec![("a".into(), 0), ("b".into(), 0)]));
    assert!(matches!(err(zero), RouteError::Target { route: 1, .. }));
    assert!(matches!(
        err(RouteSpec::new(Target::Split(vec![]))),
        RouteError::Target { route: 1, .. }
    ));
}
