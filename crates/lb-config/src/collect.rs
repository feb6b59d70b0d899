//! Deserialization that reports every error, not just the first.
//!
//! serde stops at the first error. To report them all, a failed value is
//! deserialized again with the offending key removed, until it succeeds or
//! nothing more can be removed. Errors caused only by our own removals (a
//! required key that we took out) are not reported. Key paths come from
//! `serde_path_to_error`; messages are rewritten to say what is allowed.

use config::{ConfigError, Value, ValueKind};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::diagnostic::{join_index, join_key, Report};

/// Upper bound on re-tries for one value (each removes at least one key).
const MAX_ROUNDS: usize = 256;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Deserializes `value` as a `T`, reporting every error under `base`.
/// `None` when there was any error.
pub(crate) fn deserialize<T: DeserializeOwned>(
    mut value: Value,
    base: &str,
    report: &mut Report,
) -> Option<T> {
    let mut removed: Vec<Vec<Seg>> = Vec::new();
    let mut failed = false;
    for _ in 0..MAX_ROUNDS {
        let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(t) => return (!failed).then_some(t),
            Err(err) => err,
        };
        failed = true;
        let mut at: Vec<Seg> = Vec::new();
        for seg in err.path().iter() {
            match seg {
                Segment::Map { key } => at.push(Seg::Key(key.clone())),
                Segment::Seq { index } => at.push(Seg::Index(*index)),
                Segment::Enum { .. } | Segment::Unknown => break,
            }
        }
        let (message, missing) = describe(err.inner());
        let mut error_at = at.clone();
        if let Some(key) = &missing {
            error_at.push(Seg::Key(key.clone()));
        }
        let ours = removed.iter().any(|r| error_at.starts_with(r));
        if !ours {
            report.error(render(base, &error_at), message);
        }
        // What to take out: the deepest key of the failing path (the struct
        // itself when a key is missing).
        let last_key = at.iter().rposition(|s| matches!(s, Seg::Key(_)))?;
        at.truncate(last_key + 1);
        if !remove(&mut value, &at) {
            return None;
        }
        removed.push(at);
    }
    None
}

/// `base` followed by `segs`.
fn render(base: &str, segs: &[Seg]) -> String {
    segs.iter().fold(base.to_owned(), |p, s| match s {
        Seg::Key(k) => join_key(&p, k),
        Seg::Index(i) => join_index(&p, *i),
    })
}

/// Removes the node at `path` (which ends with a key). False if not found.
fn remove(root: &mut Value, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = root;
    for seg in parents {
        node = match (seg, &mut node.kind) {
            (Seg::Key(k), ValueKind::Table(t)) => match t.get_mut(k) {
                Some(n) => n,
                None => return false,
            },
            (Seg::Index(i), ValueKind::Array(a)) => match a.get_mut(*i) {
                Some(n) => n,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, &mut node.kind) {
        (Seg::Key(k), ValueKind::Table(t)) => t.remove(k).is_some(),
        _ => false,
    }
}

/// A user-facing message for a deserialization error, and the name of the
/// missing key for "missing field" errors.
fn describe(err: &ConfigError) -> (String, Option<String>) {
    match err {
        ConfigError::At { error, .. } => describe(error),
        ConfigError::Type {
            unexpected,
            expected,
            ..
        } => (format!("expected {expected}, found {unexpected}"), None),
        ConfigError::Message(m) => rewrite(m),
        ConfigError::NotFound(key) => {
            let key = key.rsplit('.').next().unwrap_or(key);
            ("missing (required)".to_owned(), Some(key.to_owned()))
        }
        other => (other.to_string(), None),
    }
}

/// Rewrites serde's standard messages into lb's wording.
fn rewrite(m: &str) -> (String, Option<String>) {
    if let Some(rest) = m.strip_prefix("unknown field `") {
        let expected = rest.split_once("`, ").map_or("", |(_, e)| e);
        let list = expected
            .strip_prefix("expected one of ")
            .or_else(|| expected.strip_prefix("expected "))
            .map(|l| l.replace('`', ""));
        return match list {
            Some(l) => (format!("unknown key (expected one of {l})"), None),
            None => ("unknown key (no keys are allowed here)".to_owned(), None),
        };
    }
    if let Some(rest) = m.strip_prefix("missing field `") {
        let key = rest.trim_end_matches('`').to_owned();
        return ("missing (required)".to_owned(), Some(key));
    }
    if let Some(rest) = m.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return (format!("expected {expected}, found {found}"), None);
        }
    }
    (m.to_owned(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_serde_messages() {
        assert_eq!(
            rewrite("unknown field `bnd`, expected one of `bind`, `protocol`").0,
            "unknown key (expected one of bind, protocol)"
        );
        assert_eq!(
            rewrite("unknown field `x`, expected `bind`").0,
            "unknown key (expected one of bind)"
        );
        assert_eq!(
            rewrite("missing field `addr`"),
            ("missing (required)".to_owned(), Some("addr".to_owned()))
        );
        assert_eq!(
            rewrite("invalid type: map, expected a string").0,
            "expected a string, found map"
        );
    }
}
