//! Environment overrides: `LB_` + key path with `__` between keys.
//!
//! `LB_ADMIN__BIND=0.0.0.0:9901` sets `admin.bind`;
//! `LB_LISTENERS__WEB__ROUTES__0__UPSTREAM=api` sets the first route's
//! upstream. Segments match existing keys without regard to case, and `_`
//! matches `-`, so `LB_LISTENERS__WEB__BIND` reaches a listener named `Web`
//! and `..__HEADERS__X_CANARY` a header `x-canary`; a key that does not exist
//! yet is created lower-cased. Values are stored as strings and typed by the
//! schema when deserialized (numbers and booleans parse, lists may be written
//! `GET,POST`). Variables with a single segment (`LB_CONFIG`, `LB_LOG`) are
//! not configuration keys and are ignored.
//!
//! This is done on the parsed tree rather than with `config::Environment`,
//! which lower-cases every key and so cannot reach mixed-case names.

use config::{Map, Value, ValueKind};

use crate::diagnostic::{join_index, join_key, Report};

/// The prefix of override variables.
pub const ENV_PREFIX: &str = "LB_";
/// The separator between keys in override variables.
pub const ENV_SEPARATOR: &str = "__";

/// Applies every `LB_` override in `vars` to `root`, in variable-name order.
pub(crate) fn apply(
    root: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
    report: &mut Report,
) {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains(ENV_SEPARATOR))
        .collect();
    vars.sort();
    for (var, value) in vars {
        let segments: Vec<&str> = var[ENV_PREFIX.len()..].split(ENV_SEPARATOR).collect();
        if let Err(message) = set(root, &segments, value, &var, report) {
            report.push_raw(crate::Diagnostic::error(format!("env:{var}"), "", message));
        }
    }
}

/// Walks (creating tables as needed) to the node named by `segments` and
/// replaces it with the string `value`.
fn set(
    root: &mut Value,
    segments: &[&str],
    value: String,
    var: &str,
    report: &mut Report,
) -> Result<(), String> {
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "malformed override (expected {ENV_PREFIX}KEY{ENV_SEPARATOR}KEY..., each key non-empty)"
        ));
    }
    let mut path = String::new();
    let mut node = root;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if matches!(node.kind, ValueKind::Nil) {
            node.kind = ValueKind::Table(Map::new());
        }
        node = match &mut node.kind {
            ValueKind::Table(table) => {
                let key = find_key(table, seg)?;
                path = join_key(&path, &key);
                table.entry(key).or_insert_with(|| {
                    let kind = if last {
                        ValueKind::Nil
                    } else {
                        ValueKind::Table(Map::new())
                    };
                    Value::new(None, kind)
                })
            }
            ValueKind::Array(items) => {
                let len = items.len();
                let index = seg
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n < len)
                    .ok_or_else(|| {
                        format!(
                            "{path}: {seg:?} is not an index of this list (expected 0 to {})",
                            len.saturating_sub(1)
                        )
                    })?;
                path = join_index(&path, index);
                &mut items[index]
            }
            _ => {
                return Err(format!(
                    "{path} is a single value, not a table: cannot set {seg:?} inside it"
                ))
            }
        };
    }
    node.kind = ValueKind::String(value);
    report.env_origin(path, var.to_owned());
    Ok(())
}

/// The existing key of `table` that `segment` names, or `segment`
/// lower-cased for a new key.
fn find_key(table: &Map<String, Value>, segment: &str) -> Result<String, String> {
    let want = normalize(segment);
    let mut found: Vec<&String> = table.keys().filter(|k| normalize(k) == want).collect();
    found.sort();
    match found.as_slice() {
        [] => Ok(segment.to_ascii_lowercase()),
        [one] => Ok((*one).clone()),
        many => {
            let lower = segment.to_ascii_lowercase();
            if many.iter().any(|k| **k == lower) {
                return Ok(lower);
            }
            let names: Vec<&str> = many.iter().map(|k| k.as_str()).collect();
            Err(format!(
                "{segment:?} is ambiguous: it names each of {}",
                names.join(", ")
            ))
        }
    }
}

fn normalize(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}
