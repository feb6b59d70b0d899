//! Why each route did or did not match a request: the `lb-server route` dry run.
//!
//! Not on the request path: building an [`Explanation`] allocates freely.

use std::fmt;

use http::{HeaderName, HeaderValue, Method};

use super::spec::{write_methods, HeaderMatch, PathMatch, RouteSpec, Target};

/// The outcome of matching one request against a whole table, route by route.
///
/// Every route is evaluated (so shadowed matches can be seen too), but only the first match
/// counts, as in [`RouteTable::find`](super::RouteTable::find). `Display` prints the routes up
/// to and including the one that matched, each with its matchers and why it did not match:
///
/// ```text
/// route 0 (host "example.com", path_prefix "/api/"): no match: host "other.example" is not "example.com"
/// route 1 (path_prefix "/"): MATCH -> upstream "api"
/// 1 later route not considered
/// ```
#[derive(Clone, Debug)]
pub struct Explanation {
    pub(super) verdicts: Vec<Verdict>,
}

/// One route's result in an [`Explanation`].
#[derive(Clone, Debug)]
pub struct Verdict {
    pub(super) index: usize,
    pub(super) spec: RouteSpec,
    pub(super) mismatches: Vec<Mismatch>,
}

/// One matcher of a route that the request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The host matcher failed.
    Host {
        /// The configured pattern.
        expected: String,
        /// The request host (port removed), if it had one.
        actual: Option<String>,
    },
    /// The path matcher failed.
    Path {
        /// The configured matcher.
        expected: PathMatch,
        /// The request path.
        actual: String,
    },
    /// The method is not one of the route's.
    Method {
        /// The configured methods.
        expected: Vec<Method>,
        /// The request method.
        actual: Method,
    },
    /// A header condition failed.
    Header {
        /// The header name.
        name: HeaderName,
        /// The configured condition.
        expected: HeaderMatch,
        /// The request's values of that header (empty when absent).
        actual: Vec<HeaderValue>,
    },
}

// === impl Explanation ===

impl Explanation {
    /// The index of the route that matched (the first one whose matchers all hold).
    pub fn matched(&self) -> Option<usize> {
        self.verdicts.iter().find(|v| v.is_match()).map(|v| v.index)
    }

    /// One verdict per route of the table, in order.
    pub fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.verdicts.is_empty() {
            return f.write_str("no routes configured: no route matched");
        }
        for v in &self.verdicts {
            writeln!(f, "{v}")?;
            if v.is_match() {
                let later = self.verdicts.len() - v.index - 1;
                if later > 0 {
                    let s = if later == 1 { "" } else { "s" };
                    writeln!(f, "{later} later route{s} not considered")?;
                }
                return Ok(());
            }
        }
        f.write_str("no route matched")
    }
}

// === impl Verdict ===

impl Verdict {
    /// The route's position in the table.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The route's spec.
    pub fn spec(&self) -> &RouteSpec {
        &self.spec
    }

    /// Whether all of the route's matchers hold.
    pub fn is_match(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// The matchers that failed (empty when the route matched).
    pub fn mismatches(&self) -> &[Mismatch] {
        &self.mismatches
    }

    /// The route's target.
    pub fn target(&self) -> &Target {
        &self.spec.target
    }
}

/// `route 0 (matchers): MATCH -> target` or `route 0 (matchers): no match: reason; reason`.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route {} ({}): ", self.index, self.spec)?;
        if self.is_match() {
            return write!(f, "MATCH -> {}", self.spec.target);
        }
        f.write_str("no match: ")?;
        for (i, m) in self.mismatches.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

// === impl Mismatch ===

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Host {
                expected,
                actual: None,
            } => write!(f, "the request has no host (route wants {expected:?})"),
            Mismatch::Host {
                expected,
                actual: Some(actual),
            } => match expected.strip_prefix("*.") {
                Some(apex) => write!(f, "host {actual:?} is not a subdomain of {apex:?}"),
                None => write!(f, "host {actual:?} is not {expected:?}"),
            },
            Mismatch::Path { expected, actual } => match expected {
                PathMatch::Prefix(p) => write!(f, "path {actual:?} does not start with {p:?}"),
                PathMatch::Exact(p) => write!(f, "path {actual:?} is not {p:?}"),
                PathMatch::Regex(p) => write!(f, "path {actual:?} does not match regex {p:?}"),
            },
            Mismatch::Method { expected, actual } => {
                write!(f, "method {actual} is not ")?;
                write_methods(f, expected)
            }
            Mismatch::Header {
                name,
                expected,
                actual,
            } => {
                if actual.is_empty() {
                    write!(f, "header {name} is missing")?;
                } else {
                    write!(f, "header {name} is ")?;
                    for (i, v) in actual.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{v:?}")?;
                    }
                }
                match expected {
                    HeaderMatch::Present => f.write_str(" (route wants it present)"),
                    HeaderMatch::Exact(want) => write!(f, " (route wants {want:?})"),
                }
            }
        }
    }
}
