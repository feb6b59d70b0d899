//! The compiled, ordered route table: first match wins.

use std::time::Duration;

use http::{HeaderMap, Method, Request};

use super::explain::{Explanation, Verdict};
use super::host::{normalize, request_host};
use super::matcher::{CompileError, Matcher, RequestView};
use super::spec::{RouteSpec, Target};
use super::split::Split;
use crate::headers::HeaderRewrite;

/// An ordered list of compiled routes. Immutable once built: publish a new table (e.g. with
/// `arc-swap`) to change routing.
#[derive(Clone, Debug)]
pub struct RouteTable {
    routes: Box<[Route]>,
}

/// One compiled route of a [`RouteTable`].
#[derive(Clone, Debug)]
pub struct Route {
    index: usize,
    spec: RouteSpec,
    matcher: Matcher,
    split: Option<Split>,
}

/// A route that cannot be compiled. Names the route by its index in the list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The host pattern is not an exact name or a `*.` wildcard.
    #[error("route {route}: host {host:?} {reason}")]
    Host {
        /// Index of the route.
        route: usize,
        /// The pattern as configured.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `path_prefix` or `path_exact` that is not a path.
    #[error("route {route}: {key} {path:?} {reason}")]
    Path {
        /// Index of the route.
        route: usize,
        /// `path_prefix` or `path_exact`.
        key: &'static str,
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `path_regex` that does not compile.
    #[error("route {route}: path_regex {pattern:?} is not a valid regular expression: {source}")]
    Regex {
        /// Index of the route.
        route: usize,
        /// The pattern as configured.
        pattern: String,
        /// The compiler's error.
        #[source]
        source: regex::Error,
    },
    /// The target names no upstream, or a split's weights are all 0.
    #[error("route {route}: {reason}")]
    Target {
        /// Index of the route.
        route: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

// === impl RouteTable ===

impl RouteTable {
    /// Validates and compiles routes, in the order given. Regular expressions are compiled here,
    /// once.
    ///
    /// # Errors
    ///
    /// [`RouteError`] for the first route with a bad host pattern, path, regex or target.
    pub fn new(specs: Vec<RouteSpec>) -> Result<Self, RouteError> {
        let routes = specs
            .into_iter()
            .enumerate()
            .map(|(index, spec)| Route::compile(index, spec))
            .collect::<Result<Box<[Route]>, RouteError>>()?;
        Ok(Self { routes })
    }

    /// The first route that matches, or `None`.
    ///
    /// `host` is the request host as [`request_host`] returns it (a port, if still there, is
    /// ignored, as is one trailing dot); `path` is the URI path without the query. Allocates
    /// nothing and never panics.
    pub fn find(
        &self,
        method: &Method,
        host: Option<&str>,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<&Route> {
        let req = RequestView {
            method,
            host: host.map(normalize),
            path,
            headers,
        };
        self.routes.iter().find(|r| r.matcher.matches(&req))
    }

    /// [`find`](Self::find) for a request: host by [`request_host`], path from the URI.
    pub fn find_request<B>(&self, req: &Request<B>) -> Option<&Route> {
        self.find(
            req.method(),
            request_host(req),
            req.uri().path(),
            req.headers(),
        )
    }

    /// Matches like [`find`](Self::find) but reports, for every route, whether it matched and
    /// which matchers failed with the values seen. For the `lb-server route` dry run; allocates.
    pub fn explain(
        &self,
        method: &Method,
        host: Option<&str>,
        path: &str,
        headers: &HeaderMap,
    ) -> Explanation {
        let req = RequestView {
            method,
            host: host.map(normalize),
            path,
            headers,
        };
        let verdicts = self
            .routes
            .iter()
            .map(|r| Verdict {
                index: r.index,
                spec: r.spec.clone(),
                mismatches: r.matcher.mismatches(&r.spec, &req),
            })
            .collect();
        Explanation { verdicts }
    }

    /// The routes, in match order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no routes (then nothing matches).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

// === impl Route ===

impl Route {
    fn compile(index: usize, spec: RouteSpec) -> Result<Self, RouteError> {
        let matcher = Matcher::compile(&spec).map_err(|e| match e {
            CompileError::Host(reason) => RouteError::Host {
                route: index,
                host: spec.host.clone().unwrap_or_default(),
                reason,
            },
            CompileError::Path(reason) => {
                let (key, path) = spec
                    .path
                    .as_ref()
                    .map_or(("path", ""), |p| (p.key(), p.as_str()));
                RouteError::Path {
                    route: index,
                    key,
                    path: path.to_owned(),
                    reason,
                }
            }
            CompileError::Regex(source) => RouteError::Regex {
                route: index,
                pattern: spec
                    .path
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                source,
            },
        })?;
        let target_error = |reason| RouteError::Target {
            route: index,
            reason,
        };
        let split = match &spec.target {
            Target::Upstream(name) if name.is_empty() => {
                return Err(target_error("has no upstream"))
            }
            Target::Upstream(_) => None,
            Target::Split(parts) => {
                if parts.iter().any(|(name, _)| name.is_empty()) {
                    return Err(target_error("split names an empty upstream"));
                }
                let split = Split::new(parts.iter().map(|(_, w)| *w))
                    .ok_or_else(|| target_error("split has no upstream with a weight above 0"))?;
                Some(split)
            }
        };
        Ok(Self {
            index,
            spec,
            matcher,
            split,
        })
    }

    /// Position in the table (0-based): the `route` label of metrics and logs.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The spec the route was built from.
    pub fn spec(&self) -> &RouteSpec {
        &self.spec
    }

    /// Time allowed until the response head arrives, if the route sets one.
    pub fn timeout(&self) -> Option<Duration> {
        self.spec.timeout
    }

    /// The upstream for this request. For a split, the pick is a pure function of `rand`
    /// (`rand % total weight`, walked over the cumulative weights), so a uniform `rand` gives
    /// each upstream its share and tests can sweep `rand` for exact proportions.
    pub fn pick_upstream(&self, rand: u64) -> &str {
        match (&self.spec.target, &self.split) {
            (Target::Split(parts), Some(split)) => {
                parts.get(split.pick(rand)).map_or("", |(name, _)| name)
            }
            (Target::Upstream(name), _) => name,
            // Not built: `compile` always sets `split` for a split target.
            (Target::Split(_), None) => "",
        }
    }

    /// Rewrite for the request headers.
    pub fn request_headers(&self) -> &HeaderRewrite {
        &self.spec.request_headers
    }

    /// Rewrite for the response headers.
    pub fn response_headers(&self) -> &HeaderRewrite {
        &self.spec.response_headers
    }
}
