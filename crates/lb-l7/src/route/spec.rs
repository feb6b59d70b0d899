//! What a route says, as the configuration gives it: matchers, target and per-route settings.
//!
//! These are plain data. [`RouteTable::new`](super::RouteTable::new) validates and compiles
//! them once; nothing here is evaluated on the request path.

use std::fmt;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};

use crate::headers::HeaderRewrite;

/// One route of a listener: which requests it takes and where it sends them.
///
/// A route whose matchers are all unset matches every request. Build one with
/// [`RouteSpec::new`] (or [`Default`]) and the `with_*` methods, or by assigning the pub fields.
///
/// ```
/// use lb_l7::route::{PathMatch, RouteSpec, Target};
///
/// let spec = RouteSpec::new(Target::Upstream("api".into()))
///     .with_host("*.example.com")
///     .with_path(PathMatch::Prefix("/api/".into()));
/// assert_eq!(spec.to_string(), r#"host "*.example.com", path_prefix "/api/""#);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RouteSpec {
    /// Host matcher: exact (`"example.com"`) or wildcard (`"*.example.com"`: any subdomain,
    /// not the apex). Compared ASCII case-insensitively against the request host with its port
    /// removed. Default: `None` (any host, or none).
    pub host: Option<String>,
    /// Path matcher on the request path (never the query string). Default: `None` (any path).
    pub path: Option<PathMatch>,
    /// Methods, any of which matches (`HEAD` is not implied by `GET`). Default: empty (any
    /// method).
    pub methods: Vec<Method>,
    /// Header conditions, all of which must hold. Default: empty.
    pub headers: Vec<(HeaderName, HeaderMatch)>,
    /// Where matching requests go. Default: `Upstream("")`, which
    /// [`RouteTable::new`](super::RouteTable::new) rejects, so it must be set.
    pub target: Target,
    /// Time allowed until the response head arrives (the proxy answers 504 after it).
    /// Default: `None` (no route timeout).
    pub timeout: Option<Duration>,
    /// Changes made to the request headers before they are sent upstream. Default: none.
    pub request_headers: HeaderRewrite,
    /// Changes made to the response headers before they are sent to the client. Default: none.
    pub response_headers: HeaderRewrite,
}

/// How a route matches the request path.
///
/// Matching is on the path exactly as received: no percent-decoding and no removal of
/// `.`/`..` segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// A plain string prefix: `"/api"` matches `/api`, `/api/x` and also `/apix`.
    /// Write `"/api/"` to match only below `/api/`.
    Prefix(String),
    /// The whole path, byte for byte.
    Exact(String),
    /// A regular expression ([`regex`] syntax), compiled when the table is built. It is
    /// **not** anchored for you: `"/v[0-9]+/"` matches anywhere in the path; write
    /// `"^/v[0-9]+/"` to anchor it at the start, and end with `$` to anchor the end.
    Regex(String),
}

/// A condition on one request header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderMatch {
    /// The header is present, with any value (`"*"` in the configuration).
    Present,
    /// One of the header's values equals this value, byte for byte (case-sensitive).
    Exact(HeaderValue),
}

/// Where a route sends its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One upstream, by name.
    Upstream(String),
    /// A weighted split between upstreams (canary): `(name, weight)`. A weight of 0 sends
    /// that upstream nothing; at least one weight must be positive.
    Split(Vec<(String, u32)>),
}

// === impl RouteSpec ===

impl RouteSpec {
    /// A route that matches every request and sends it to `target`.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            ..Self::default()
        }
    }

    /// Sets the host matcher (exact or `*.` wildcard).
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Sets the path matcher.
    #[must_use]
    pub fn with_path(mut self, path: PathMatch) -> Self {
        self.path = Some(path);
        self
    }

    /// Sets the accepted methods (any of them matches).
    #[must_use]
    pub fn with_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Adds a header condition.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, matcher: HeaderMatch) -> Self {
        self.headers.push((name, matcher));
        self
    }

    /// Sets the route timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the request header rewrite.
    #[must_use]
    pub fn with_request_headers(mut self, rewrite: HeaderRewrite) -> Self {
        self.request_headers = rewrite;
        self
    }

    /// Sets the response header rewrite.
    #[must_use]
    pub fn with_response_headers(mut self, rewrite: HeaderRewrite) -> Self {
        self.response_headers = rewrite;
        self
    }

    /// Whether the route has no matcher at all, and so matches every request.
    pub fn matches_everything(&self) -> bool {
        self.host.is_none()
            && self.path.is_none()
            && self.methods.is_empty()
            && self.headers.is_empty()
    }
}

/// The matchers in configuration words, e.g. `host "example.com", path_prefix "/api/"`, or
/// `any request` when there is none.
impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matches_everything() {
            return f.write_str("any request");
        }
        let mut sep = "";
        if let Some(host) = &self.host {
            write!(f, "host {host:?}")?;
            sep = ", ";
        }
        if let Some(path) = &self.path {
            write!(f, "{sep}{path}")?;
            sep = ", ";
        }
        if !self.methods.is_empty() {
            write!(f, "{sep}methods ")?;
            write_methods(f, &self.methods)?;
            sep = ", ";
        }
        for (name, matcher) in &self.headers {
            write!(f, "{sep}header {name} {matcher}")?;
            sep = ", ";
        }
        Ok(())
    }
}

/// Writes methods as `GET|POST`.
pub(super) fn write_methods(f: &mut fmt::Formatter<'_>, methods: &[Method]) -> fmt::Result {
    for (i, m) in methods.iter().enumerate() {
        if i > 0 {
            f.write_str("|")?;
        }
        f.write_str(m.as_str())?;
    }
    Ok(())
}

// === impl PathMatch ===

impl PathMatch {
    /// The configuration key of this matcher: `path_prefix`, `path_exact` or `path_regex`.
    pub fn key(&self) -> &'static str {
        match self {
            PathMatch::Prefix(_) => "path_prefix",
            PathMatch::Exact(_) => "path_exact",
            PathMatch::Regex(_) => "path_regex",
        }
    }

    /// The prefix, path or pattern as written.
    pub fn as_str(&self) -> &str {
        match self {
            PathMatch::Prefix(s) | PathMatch::Exact(s) | PathMatch::Regex(s) => s,
        }
    }
}

/// `path_prefix "/api/"`, `path_exact "/x"` or `path_regex "^/v[0-9]+/"`.
impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.key(), self.as_str())
    }
}

// === impl HeaderMatch ===

/// `present` or `= "value"`.
impl fmt::Display for HeaderMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderMatch::Present => f.write_str("present"),
            HeaderMatch::Exact(v) => write!(f, "= {v:?}"),
        }
    }
}

// === impl Target ===

/// An unset target (`Upstream("")`), rejected by [`RouteTable::new`](super::RouteTable::new).
impl Default for Target {
    fn default() -> Self {
        Target::Upstream(String::new())
    }
}

/// `upstream "api"` or `split "api"=95, "canary"=5`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Upstream(name) => write!(f, "upstream {name:?}"),
            Target::Split(parts) => {
                f.write_str("split ")?;
                for (i, (name, weight)) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name:?}={weight}")?;
                }
                Ok(())
            }
        }
    }
}
