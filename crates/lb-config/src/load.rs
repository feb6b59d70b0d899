//! Loading: read the file, parse it with the `config` crate, apply `LB_`
//! environment overrides, deserialize section by section (so that one bad
//! listener does not hide the errors of the next), lower, validate.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use config::{Map, Value, ValueKind};

use crate::diagnostic::{join_index, join_key, Report};
use crate::model::listener::ListenerConfig;
use crate::model::upstream::UpstreamConfig;
use crate::model::{Config, Loaded};
use crate::parse::{parse, Format};
use crate::raw::{resolve, ListenerSpec, RouteSpec, Routes};
use crate::validate::{self, Partial};
use crate::{collect, env, Diagnostic, Diagnostics};

const TOP_KEYS: &[&str] = &["server", "admin", "log", "listeners", "upstreams"];

/// Loads `path` with overrides from the process environment (`LB_…`).
///
/// # Errors
/// Every error found (and the warnings), each naming the file and key path.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let vars = std::env::vars_os().filter_map(|(k, v): (OsString, OsString)| {
        Some((k.into_string().ok()?, v.into_string().ok()?))
    });
    load_with_env(path, vars)
}

/// Loads `path` with overrides from `env` (pairs of variable name and value;
/// only `LB_…` names with a `__` are used).
///
/// # Errors
/// Every error found (and the warnings), each naming the file and key path.
pub fn load_with_env(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, Diagnostics> {
    let file = path.display().to_string();
    let Some(format) = Format::from_path(path) else {
        return Err(Diagnostic::error(
            file,
            "",
            "unsupported file extension (expected .toml, .yaml, .yml or .json)",
        )
        .into());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::error(file.clone(), "", format!("cannot read the file: {e}")))?;
    let base = path.parent().unwrap_or(Path::new(""));
    load_text(&text, format, &file, base, env)
}

/// Loads a configuration from `text`, without environment overrides.
/// `file_name` is used in diagnostics, and its directory to resolve relative
/// TLS paths.
///
/// # Errors
/// Every error found (and the warnings), each naming `file_name` and the key
/// path.
pub fn from_str(text: &str, format: Format, file_name: &str) -> Result<Loaded, Diagnostics> {
    let base = Path::new(file_name).parent().unwrap_or(Path::new(""));
    load_text(text, format, file_name, base, std::iter::empty())
}

fn load_text(
    text: &str,
    format: Format,
    file: &str,
    base: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, Diagnostics> {
    let mut root = parse(text, format, file).map_err(Diagnostics::from)?;
    let mut report = Report::new(file);
    env::apply(&mut root, env, &mut report);
    let (config, partial) = build(root, base, &mut report);
    validate::check(&config, &partial, &mut report);
    let failed = report.has_errors();
    let items = report.finish();
    if failed {
        return Err(Diagnostics(items));
    }
    Ok(Loaded {
        file: file.to_owned(),
        config,
        warnings: items,
    })
}

/// Deserializes each section, listener and upstream on its own.
fn build(root: Value, base: &Path, report: &mut Report) -> (Config, Partial) {
    let mut partial = Partial::default();
    let mut config = Config::default();
    let mut sections = match root.kind {
        ValueKind::Table(t) => t,
        _ => Map::new(),
    };
    let mut unknown: Vec<String> = sections
        .keys()
        .filter(|k| !TOP_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    unknown.sort();
    for key in unknown {
        report.error(
            join_key("", &key),
            "unknown key (expected one of server, admin, log, listeners, upstreams)",
        );
    }
    // An empty YAML section (`admin:`) is null: take it as an empty table.
    let mut section = |key: &str| {
        sections.remove(key).map(|v| match v.kind {
            ValueKind::Nil => Value::new(None, ValueKind::Table(Map::new())),
            _ => v,
        })
    };
    if let Some(v) = section("server") {
        config.server = collect::deserialize(v, "server", report).unwrap_or_default();
    }
    if let Some(v) = section("admin") {
        config.admin = collect::deserialize(v, "admin", report);
    }
    if let Some(v) = section("log") {
        config.log = collect::deserialize(v, "log", report).unwrap_or_default();
    }
    for (name, value) in named(sections.remove("upstreams"), "upstreams", report) {
        let at = join_key("upstreams", &name);
        match load_upstream(value, &at, base, report) {
            Some(u) => {
                config.upstreams.insert(name, u);
            }
            None => {
                partial.failed_upstreams.insert(name);
            }
        }
    }
    for (name, value) in named(sections.remove("listeners"), "listeners", report) {
        let at = join_key("listeners", &name);
        let (listener, complete) = load_listener(value, &at, base, report);
        if !complete {
            partial.incomplete_listeners.insert(name.clone());
        }
        match listener {
            Some(l) => {
                config.listeners.insert(name, l);
            }
            None => {
                partial.failed_listeners.insert(name);
            }
        }
    }
    (config, partial)
}

/// The entries of a table keyed by name (`[listeners.NAME]`), sorted.
fn named(value: Option<Value>, key: &str, report: &mut Report) -> BTreeMap<String, Value> {
    match value.map(|v| v.kind) {
        None | Some(ValueKind::Nil) => BTreeMap::new(),
        Some(ValueKind::Table(t)) => t.into_iter().collect(),
        Some(_) => {
            report.error(
                key,
                format!("expected a table of {key} keyed by name ([{key}.NAME])"),
            );
            BTreeMap::new()
        }
    }
}

/// Takes the array at `key` out of `value` (a table): `Ok(None)` when absent
/// (or null), `Err(())` after reporting a value that is not a list.
fn take_array(
    value: &mut Value,
    key: &str,
    at: &str,
    report: &mut Report,
) -> Result<Option<Vec<Value>>, ()> {
    let ValueKind::Table(t) = &mut value.kind else {
        return Ok(None);
    };
    match t.remove(key).map(|v| v.kind) {
        None | Some(ValueKind::Nil) => Ok(None),
        Some(ValueKind::Array(items)) => Ok(Some(items)),
        Some(other) => {
            report.error(
                join_key(at, key),
                format!("expected a list, found {}", kind_name(&other)),
            );
            Err(())
        }
    }
}

fn kind_name(kind: &ValueKind) -> &'static str {
    match kind {
        ValueKind::Nil => "nothing",
        ValueKind::Boolean(_) => "a boolean",
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            "an integer"
        }
        ValueKind::Float(_) => "a number",
        ValueKind::String(_) => "a string",
        ValueKind::Table(_) => "a table",
        ValueKind::Array(_) => "a list",
    }
}

fn load_upstream(
    mut value: Value,
    at: &str,
    base: &Path,
    report: &mut Report,
) -> Option<UpstreamConfig> {
    let servers = take_array(&mut value, "servers", at, report);
    let servers_at = join_key(at, "servers");
    let servers: Vec<_> = match servers {
        Ok(list) => list
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, v)| collect::deserialize(v, &join_index(&servers_at, i), report))
            .collect(),
        Err(()) => vec![None],
    };
    let mut upstream: UpstreamConfig = collect::deserialize(value, at, report)?;
    upstream.servers = servers.into_iter().collect::<Option<Vec<_>>>()?;
    if let Some(tls) = &mut upstream.tls {
        for p in [&mut tls.ca, &mut tls.cert, &mut tls.key]
            .into_iter()
            .flatten()
        {
            *p = resolve(base, std::mem::take(p));
        }
    }
    Some(upstream)
}

/// The listener (if it could be built) and whether all its routes were.
fn load_listener(
    mut value: Value,
    at: &str,
    base: &Path,
    report: &mut Report,
) -> (Option<ListenerConfig>, bool) {
    let routes_at = join_key(at, "routes");
    let routes = match take_array(&mut value, "routes", at, report) {
        Ok(list) => Routes {
            present: list.as_ref().is_some_and(|r| !r.is_empty()),
            parsed: list
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let route_at = join_index(&routes_at, i);
                    collect::deserialize::<RouteSpec>(v, &route_at, report)
                        .and_then(|spec| spec.lower(&route_at, report))
                })
                .collect(),
        },
        // Present but not a list (reported): as if its one route failed.
        Err(()) => Routes {
            present: true,
            parsed: vec![None],
        },
    };
    let complete = routes.parsed.iter().all(Option::is_some);
    let listener = collect::deserialize::<ListenerSpec>(value, at, report)
        .and_then(|spec| spec.lower(at, routes, base, report));
    (listener, complete)
}
