//! What `check` prints: errors and warnings that name the file, the key path,
//! what is wrong and what is allowed.

use std::fmt;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration is rejected.
    Error,
    /// The configuration is accepted, but probably not what was meant.
    Warning,
}

/// One finding about a configuration.
///
/// `Display` gives the form of SPEC §2:
/// `lb.toml: upstreams.api.servers[1].addr: "10.0.0.1" has no port (expected host:port)`,
/// with `warning: ` before the message of a warning, and `:line:column` after
/// the file name when the finding is a syntax error whose position is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// The file the value came from, as given (e.g. `lb.toml`), or
    /// `env:LB_ADMIN__BIND` when the value came from that environment variable.
    pub file: String,
    /// The 1-based line of a syntax error, when known; `None` otherwise.
    pub line: Option<usize>,
    /// The 1-based column of a syntax error, when known; `None` otherwise.
    pub column: Option<usize>,
    /// The key path, e.g. `upstreams.api.servers[1].addr`; empty for errors
    /// about the file as a whole.
    pub path: String,
    /// What is wrong, and what is allowed.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

/// Every error (and warning) found in a configuration that was rejected.
///
/// `Display` prints one [`Diagnostic`] per line, errors first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

/// Collects diagnostics for one file, attributing values that came from
/// environment variables to the variable.
#[derive(Debug, Default)]
pub(crate) struct Report {
    file: String,
    /// `(key path, variable name)` of every environment override applied.
    env_origins: Vec<(String, String)>,
    items: Vec<Diagnostic>,
}

// === impl Diagnostic ===

impl Diagnostic {
    /// An error at `path` in `file`.
    pub fn error(
        file: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, file.into(), path.into(), message.into())
    }

    /// A warning at `path` in `file`.
    pub fn warning(
        file: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, file.into(), path.into(), message.into())
    }

    fn new(severity: Severity, file: String, path: String, message: String) -> Self {
        Self {
            file,
            line: None,
            column: None,
            path,
            message,
            severity,
        }
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        if self.severity == Severity::Warning {
            f.write_str(": warning")?;
        }
        write!(f, ": {}", self.message)
    }
}

// === impl Diagnostics ===

impl Diagnostics {
    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    /// All diagnostics, errors first.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// The number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

// === impl Report ===

impl Report {
    pub(crate) fn new(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            ..Self::default()
        }
    }

    /// Remember that the value at `path` was set by environment variable `var`.
    pub(crate) fn env_origin(&mut self, path: String, var: String) {
        self.env_origins.push((path, var));
    }

    pub(crate) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, path.into(), message.into());
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, path.into(), message.into());
    }

    pub(crate) fn push_raw(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    fn push(&mut self, severity: Severity, path: String, message: String) {
        let file = self.origin_of(&path).unwrap_or_else(|| self.file.clone());
        self.items
            .push(Diagnostic::new(severity, file, path, message));
    }

    /// The environment variable that set `path` or one of its parents.
    fn origin_of(&self, path: &str) -> Option<String> {
        self.env_origins
            .iter()
            .rev()
            .find(|(p, _)| {
                path == p
                    || (path.starts_with(p.as_str())
                        && matches!(path.as_bytes().get(p.len()), Some(b'.' | b'[')))
            })
            .map(|(_, var)| format!("env:{var}"))
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Errors first, then warnings, each in key-path order (array indices
    /// compared as numbers); duplicates removed.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (a.severity, path_key(&a.path), &a.message).cmp(&(
                b.severity,
                path_key(&b.path),
                &b.message,
            ))
        });
        self.items.dedup();
        self.items
    }
}

/// A sort key for paths that orders `servers[2]` before `servers[10]`.
fn path_key(path: &str) -> Vec<PathPart<'_>> {
    path.split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(n) => PathPart::Index(n),
            Err(_) => PathPart::Key(s),
        })
        .collect()
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum PathPart<'a> {
    Index(usize),
    Key(&'a str),
}

/// `parent.key`, quoting `key` when it is not a plain identifier.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if plain {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}
