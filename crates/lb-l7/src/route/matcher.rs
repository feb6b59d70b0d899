//! Compiled matchers: one per route, evaluated without allocation.

use http::{HeaderMap, HeaderName, Method};
use regex::Regex;

use super::explain::Mismatch;
use super::host::HostPattern;
use super::spec::{HeaderMatch, PathMatch, RouteSpec};

/// The request fields a route is matched against, host already normalized.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestView<'a> {
    pub(crate) method: &'a Method,
    pub(crate) host: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a HeaderMap,
}

/// A route's matchers, compiled once when the table is built.
#[derive(Clone, Debug)]
pub(crate) struct Matcher {
    host: Option<HostPattern>,
    path: Option<CompiledPath>,
    methods: Box<[Method]>,
    headers: Box<[(HeaderName, HeaderMatch)]>,
}

#[derive(Clone, Debug)]
enum CompiledPath {
    Prefix(Box<str>),
    Exact(Box<str>),
    Regex(Regex),
}

/// Why a spec could not be compiled: which field, and what is wrong.
#[derive(Debug)]
pub(crate) enum CompileError {
    Host(&'static str),
    Path(&'static str),
    Regex(regex::Error),
}

impl Matcher {
    pub(crate) fn compile(spec: &RouteSpec) -> Result<Self, CompileError> {
        let host = spec
            .host
            .as_deref()
            .map(HostPattern::parse)
            .transpose()
            .map_err(CompileError::Host)?;
        let path = match &spec.path {
            None => None,
            Some(PathMatch::Prefix(p)) => Some(CompiledPath::Prefix(check_path(p)?.into())),
            Some(PathMatch::Exact(p)) => Some(CompiledPath::Exact(check_path(p)?.into())),
            Some(PathMatch::Regex(p)) => Some(CompiledPath::Regex(
                Regex::new(p).map_err(CompileError::Regex)?,
            )),
        };
        Ok(Self {
            host,
            path,
            methods: spec.methods.clone().into_boxed_slice(),
            headers: spec.headers.clone().into_boxed_slice(),
        })
    }

    /// Whether every matcher holds. Cheapest checks first; no allocation.
    #[inline]
    pub(crate) fn matches(&self, req: &RequestView<'_>) -> bool {
        self.method_ok(req.method)
            && self.host_ok(req.host)
            && self.path_ok(req.path)
            && self.headers_ok(req.headers)
    }

    /// Every matcher that fails, in configuration order (host, path, methods, headers).
    pub(crate) fn mismatches(&self, spec: &RouteSpec, req: &RequestView<'_>) -> Vec<Mismatch> {
        let mut out = Vec::new();
        if !self.host_ok(req.host) {
            out.push(Mismatch::Host {
                expected: spec.host.clone().unwrap_or_default(),
                actual: req.host.map(str::to_owned),
            });
        }
        if !self.path_ok(req.path) {
            if let Some(expected) = &spec.path {
                out.push(Mismatch::Path {
                    expected: expected.clone(),
                    actual: req.path.to_owned(),
                });
            }
        }
        if !self.method_ok(req.method) {
            out.push(Mismatch::Method {
                expected: spec.methods.clone(),
                actual: req.method.clone(),
            });
        }
        for (name, want) in self.headers.iter() {
            if !header_ok(req.headers, name, want) {
                out.push(Mismatch::Header {
                    name: name.clone(),
                    expected: want.clone(),
                    actual: req.headers.get_all(name).iter().cloned().collect(),
                });
            }
        }
        out
    }

    fn method_ok(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m == method)
    }

    fn host_ok(&self, host: Option<&str>) -> bool {
        match (&self.host, host) {
            (None, _) => true,
            (Some(pattern), Some(host)) => pattern.matches(host),
            (Some(_), None) => false,
        }
    }

    fn path_ok(&self, path: &str) -> bool {
        match &self.path {
            None => true,
            Some(CompiledPath::Prefix(p)) => path.starts_with(&**p),
            Some(CompiledPath::Exact(p)) => path == &**p,
            Some(CompiledPath::Regex(re)) => re.is_match(path),
        }
    }

    fn headers_ok(&self, headers: &HeaderMap) -> bool {
        self.headers
            .iter()
            .all(|(name, want)| header_ok(headers, name, want))
    }
}

fn header_ok(headers: &HeaderMap, name: &HeaderName, want: &HeaderMatch) -> bool {
    match want {
        HeaderMatch::Present => headers.contains_key(name),
        HeaderMatch::Exact(value) => headers
            .get_all(name)
            .iter()
            .any(|v| v.as_bytes() == value.as_bytes()),
    }
}

fn check_path(p: &str) -> Result<&str, CompileError> {
    if p.starts_with('/') {
        Ok(p)
    } else {
        Err(CompileError::Path("must start with `/`"))
    }
}
