//! Reload diffs: listeners, upstreams, servers and routes.

use lb_config::*;

const BASE: &str = r#"
[listeners.web]
bind = "127.0.0.1:8080"
[[listeners.web.routes]]
path_prefix = "/api"
upstream = "api"
[[listeners.web.routes]]
upstream = "static"

[listeners.pg]
bind = "127.0.0.1:5432"
protocol = "tcp"
upstream = "db"

[upstreams.api]
servers = [{ addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002", weight = 2 }]
[upstreams.static]
servers = [{ addr = "127.0.0.1:9101" }]
[upstreams.db]
servers = [{ addr = "127.0.0.1:9201" }]
"#;

fn config(text: &str) -> Config {
    from_str(text, Format::Toml, "lb.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

fn addr(s: &str) -> ServerAddr {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn identical_configs_have_no_changes() {
    let d = diff(&config(BASE), &config(BASE));
    assert!(d.is_empty());
    assert_eq!(
        d.summary(),
        "2 listeners, 3 upstreams, 2 routes, no changes"
    );
}

#[test]
fn servers_added_removed_and_reweighted() {
    let new = BASE.replace(
        r#"servers = [{ addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002", weight = 2 }]"#,
        r#"servers = [{ addr = "127.0.0.1:9002", weight = 5 }, { addr = "127.0.0.1:9003" }]"#,
    );
    let d = diff(&config(BASE), &config(&new));
    assert!(d.listeners_changed.is_empty() && d.upstreams_added.is_empty());
    assert_eq!(d.upstreams_changed.len(), 1);
    let c = &d.upstreams_changed[0];
    assert_eq!(c.name, "api");
    assert_eq!(c.servers_added, [addr("127.0.0.1:9003")]);
    assert_eq!(c.servers_removed, [addr("127.0.0.1:9001")]);
    assert_eq!(c.servers_changed.len(), 1);
    let s = &c.servers_changed[0];
    assert_eq!(
        (s.addr.to_string(), s.old.weight, s.new.weight),
        ("127.0.0.1:9002".to_owned(), 2, 5)
    );
    assert!(!c.settings, "only the server list changed");
    assert_eq!(
        d.summary(),
        "2 listeners, 3 upstreams (1 changed: +1 server, -1 server, 1 reweighted), 2 routes"
    );
}

#[test]
fn upstream_settings_and_membership() {
    let new = BASE
        .replace("[upstreams.static]", "[upstreams.assets]")
        .replace(r#"upstream = "static""#, r#"upstream = "assets""#)
        .replace(
            "[upstreams.db]\n",
            "[upstreams.db]\nalgorithm = \"maglev\"\n",
        );
    let d = diff(&config(BASE), &config(&new));
    assert_eq!(d.upstreams_added, ["assets"]);
    assert_eq!(d.upstreams_removed, ["static"]);
    assert_eq!(d.upstreams_changed.len(), 1);
    let db = &d.upstreams_changed[0];
    assert_eq!(db.name, "db");
    assert!(db.settings);
    assert!(
        db.servers_added.is_empty()
            && db.servers_removed.is_empty()
            && db.servers_changed.is_empty()
    );
    assert_eq!(
        d.listeners_changed.len(),
        1,
        "web's route now points elsewhere"
    );
    let web = &d.listeners_changed[0];
    assert_eq!(
        (web.name.as_str(), web.rebind, web.settings, web.routes),
        ("web", false, false, true)
    );
    assert_eq!(
        d.summary(),
        "2 listeners (1 changed), 3 upstreams (1 added, 1 removed, 1 changed: settings), 2 routes \
         (changed in 1 listener)"
    );
}

#[test]
fn listeners_added_removed_rebound_and_retuned() {
    let new = format!(
        "{}\n[listeners.dns]\nbind = \"127.0.0.1:5353\"\nprotocol = \"udp\"\nupstream = \"db\"\n",
        BASE.replace(
            "bind = \"127.0.0.1:8080\"",
            "bind = \"127.0.0.1:8081\"\nidle_timeout = \"5s\""
        )
        .replace(
            "[listeners.pg]\nbind = \"127.0.0.1:5432\"\nprotocol = \"tcp\"\nupstream = \"db\"\n",
            ""
        )
    );
    let d = diff(&config(BASE), &config(&new));
    assert_eq!(d.listeners_added, ["dns"]);
    assert_eq!(d.listeners_removed, ["pg"]);
    assert_eq!(
        d.listeners_changed,
        [ListenerChange {
            name: "web".into(),
            rebind: true,
            settings: true,
            routes: false
        }]
    );
    assert!(d.upstreams_changed.is_empty());
    assert_eq!(
        d.summary(),
        "2 listeners (1 added, 1 removed, 1 changed), 3 upstreams, 2 routes"
    );
}

#[test]
fn adding_a_route_and_process_sections() {
    let new = format!(
        "[log]\nlevel = \"debug\"\n[admin]\n{BASE}\n[[listeners.web.routes]]\npath_exact = \"/health\"\nupstream = \"api\"\n"
    );
    let d = diff(&config(BASE), &config(&new));
    assert!(d.log_changed && d.admin_changed && !d.server_changed);
    assert_eq!(d.listeners_changed.len(), 1);
    assert!(d.listeners_changed[0].routes && !d.listeners_changed[0].settings);
    assert_eq!(
        d.summary(),
        "2 listeners (1 changed), 3 upstreams, 3 routes (changed in 1 listener), [admin], [log] changed"
    );
}
