//! Semantic checks over the typed configuration: everything serde cannot see
//! (references between sections, duplicates, ranges, files on disk), all
//! reported at once, plus warnings.

mod listeners;
mod shadow;
mod upstreams;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::diagnostic::{join_key, Report};
use crate::model::Config;
use crate::Diagnostic;

/// What the loader could not build, so that validation does not report
/// consequences (e.g. "unknown upstream" for an upstream that failed to parse).
#[derive(Debug, Default)]
pub(crate) struct Partial {
    /// Upstreams that had errors and are missing from the config.
    pub(crate) failed_upstreams: BTreeSet<String>,
    /// Listeners with routes that failed (route indices no longer match).
    pub(crate) incomplete_listeners: BTreeSet<String>,
    /// Listeners that had errors and are missing from the config.
    pub(crate) failed_listeners: BTreeSet<String>,
}

impl Partial {
    /// Whether some listener or route is missing, so that an upstream may
    /// look unused only because what refers to it failed.
    pub(crate) fn references_incomplete(&self) -> bool {
        !(self.incomplete_listeners.is_empty() && self.failed_listeners.is_empty())
    }
}

impl Config {
    /// Checks everything about a typed configuration that its types do not
    /// guarantee, and returns every error and warning (errors first), naming
    /// `file`.
    ///
    /// The loaders run this already; it is public for configurations built
    /// or changed in code.
    pub fn validate(&self, file: &str) -> Vec<Diagnostic> {
        let mut report = Report::new(file);
        check(self, &Partial::default(), &mut report);
        report.finish()
    }
}

/// Runs every check.
pub(crate) fn check(config: &Config, partial: &Partial, report: &mut Report) {
    if let Some(admin) = &config.admin {
        let ip = admin.bind.ip();
        match admin.token.as_deref() {
            Some("") => report.error("admin.token", "empty (expected a secret string)"),
            None if !ip.is_loopback() => report.error(
                "admin.token",
                format!(
                    "missing: required because admin.bind ({}) is not a loopback address",
                    admin.bind
                ),
            ),
            _ => {}
        }
    }
    positive(
        report,
        "server.shutdown_timeout",
        config.server.shutdown_timeout,
    );
    if config.log.level.trim().is_empty() {
        report.error(
            "log.level",
            "empty (expected trace, debug, info, warn, error, off or an EnvFilter string)",
        );
    }
    if config.listeners.is_empty() && partial.failed_listeners.is_empty() {
        report.warn("listeners", "no listeners: nothing will be served");
    }
    listeners::check(config, partial, report);
    upstreams::check(config, partial, report);
    shadow::check(config, partial, report);
}

/// Reports a zero duration at `path`.
fn positive(report: &mut Report, path: &str, d: Duration) {
    if d.is_zero() {
        report.error(path, "must be greater than 0");
    }
}

/// Reports a count of 0 at `path`.
fn at_least_one(report: &mut Report, path: &str, n: u64) {
    if n == 0 {
        report.error(path, "must be at least 1");
    }
}

/// Reports a file that does not exist.
fn file_exists(report: &mut Report, path: &str, file: &Path) {
    if !file.is_file() {
        report.error(path, format!("file not found: {}", file.display()));
    }
}

/// Reports invalid header names in a `{ set, remove }` rewrite.
fn header_rewrite(report: &mut Report, path: &str, rewrite: &crate::HeaderRewrite) {
    for name in rewrite.set.keys() {
        if !crate::de::is_header_name(name) {
            report.error(
                join_key(&join_key(path, "set"), name),
                "not a valid header name",
            );
        }
    }
    for (i, name) in rewrite.remove.iter().enumerate() {
        if !crate::de::is_header_name(name) {
            report.error(
                crate::diagnostic::join_index(&join_key(path, "remove"), i),
                format!("{name:?} is not a valid header name"),
            );
        }
    }
}
