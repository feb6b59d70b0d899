//! Warnings: accepted, but probably not what was meant.

mod common;

use common::*;
use lb_config::{from_str, Format, Severity};

fn warnings(text: &str) -> Vec<String> {
    let loaded = from_str(text, Format::Toml, "lb.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded
        .warnings
        .iter()
        .all(|w| w.severity == Severity::Warning));
    loaded.warnings.iter().map(ToString::to_string).collect()
}

fn routes(routes: &str) -> String {
    format!(
        "[listeners.web]\nbind = \"127.0.0.1:8080\"\n{routes}\n\
         [upstreams.api]\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n"
    )
}

#[test]
fn a_route_after_a_catch_all_is_shadowed() {
    let text = routes(
        "[[listeners.web.routes]]\npath_prefix = \"/\"\nupstream = \"api\"\n\
         [[listeners.web.routes]]\npath_prefix = \"/api\"\nupstream = \"api\"\n",
    );
    assert_eq!(
        warnings(&text),
        ["lb.toml: listeners.web.routes[1]: warning: never matches: routes[0] (path_prefix \"/\") \
          comes first and matches every request this route would"]
    );
}

#[test]
fn shadowing_needs_every_constraint_to_be_looser() {
    let shadowed = [
        // host wildcard covers an exact host; methods superset
        (
            "host = \"*.example.com\"\nmethods = [\"GET\", \"POST\"]",
            "host = \"a.example.com\"\npath_exact = \"/x\"\nmethods = [\"GET\"]",
        ),
        // prefix covers a longer prefix at a segment boundary
        ("path_prefix = \"/api\"", "path_prefix = \"/api/v2\""),
        // header presence covers a header value
        (
            "headers = { \"x-canary\" = \"*\" }",
            "headers = { \"X-Canary\" = \"true\", \"x-other\" = \"1\" }",
        ),
        // identical regexes
        ("path_regex = \"/a+\"", "path_regex = \"/a+\""),
    ];
    for (first, second) in shadowed {
        let text = routes(&format!(
            "[[listeners.web.routes]]\n{first}\nupstream = \"api\"\n[[listeners.web.routes]]\n{second}\nupstream = \"api\"\n"
        ));
        let w = warnings(&text);
        assert_eq!(w.len(), 1, "{first} / {second}: {w:?}");
        assert!(
            w[0].starts_with("lb.toml: listeners.web.routes[1]: warning: never matches: routes[0]"),
            "{}",
            w[0]
        );
    }
    let not_shadowed = [
        ("path_prefix = \"/api/v2\"", "path_prefix = \"/api\""),
        ("path_prefix = \"/api\"", "path_prefix = \"/apiv2\""),
        ("host = \"example.com\"", "path_prefix = \"/\""),
        ("host = \"*.example.com\"", "host = \"example.com\""),
        ("methods = [\"GET\"]", "path_prefix = \"/\""),
        ("methods = [\"GET\"]", "methods = [\"GET\", \"POST\"]"),
        (
            "headers = { \"x-canary\" = \"true\" }",
            "headers = { \"x-canary\" = \"*\" }",
        ),
        ("path_regex = \"/.*\"", "path_prefix = \"/x\""),
        ("path_exact = \"/x\"", "path_prefix = \"/x\""),
    ];
    for (first, second) in not_shadowed {
        let text = routes(&format!(
            "[[listeners.web.routes]]\n{first}\nupstream = \"api\"\n[[listeners.web.routes]]\n{second}\nupstream = \"api\"\n"
        ));
        assert_eq!(warnings(&text), Vec::<String>::new(), "{first} / {second}");
    }
}

#[test]
fn an_upstream_nothing_sends_to_is_unused() {
    let text = format!(
        "{MINIMAL}\n[upstreams.spare]\nservers = [{{ addr = \"127.0.0.1:9009\" }}]\n\
         [upstreams.half]\nservers = [{{ addr = \"127.0.0.1:9010\" }}]\n\
         [[listeners.web.routes]]\nsplit = {{ api = 1, half = 0 }}\n"
    );
    let w = warnings(&text);
    assert!(w.contains(&"lb.toml: upstreams.spare: warning: unused: no route or listener sends to this upstream".to_owned()), "{w:?}");
    assert!(
        !w.iter().any(|l| l.contains("upstreams.half")),
        "a split member counts as used: {w:?}"
    );
}

#[test]
fn no_listeners_is_a_warning() {
    let w = warnings("[upstreams.api]\nservers = [{ addr = \"127.0.0.1:9001\" }]\n");
    assert_eq!(
        w,
        [
            "lb.toml: listeners: warning: no listeners: nothing will be served",
            "lb.toml: upstreams.api: warning: unused: no route or listener sends to this upstream",
        ]
    );
}
