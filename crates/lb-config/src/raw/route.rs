//! `[[listeners.NAME.routes]]` as written, and its lowering into
//! [`RouteConfig`]: one path matcher, one target, valid names.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::de;
use crate::diagnostic::{join_index, join_key, Report};
use crate::model::route::*;

/// `[[listeners.NAME.routes]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteSpec {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    path_exact: Option<String>,
    #[serde(default)]
    path_regex: Option<String>,
    #[serde(default, deserialize_with = "de::string_list")]
    methods: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    split: Option<BTreeMap<String, u32>>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    request_headers: HeaderRewrite,
    #[serde(default)]
    response_headers: HeaderRewrite,
}

// === impl RouteSpec ===

impl RouteSpec {
    /// Builds the typed route at `path`; `None` (after reporting) when its
    /// matchers or target are contradictory.
    pub(crate) fn lower(self, path: &str, report: &mut Report) -> Option<RouteConfig> {
        let mut ok = true;
        let host = self
            .host
            .as_deref()
            .and_then(|h| match HostPattern::parse(h) {
                Ok(p) => Some(p),
                Err(e) => {
                    report.error(join_key(path, "host"), e);
                    ok = false;
                    None
                }
            });
        let matchers: Vec<(&str, String)> = [
            ("path_prefix", self.path_prefix),
            ("path_exact", self.path_exact),
            ("path_regex", self.path_regex),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        let path_match = match matchers.as_slice() {
            [] => PathMatch::Any,
            [(key, value)] => {
                lower_path(key, value, &join_key(path, key), report).unwrap_or_else(|| {
                    ok = false;
                    PathMatch::Any
                })
            }
            [(first, _), (second, _), ..] => {
                report.error(
                    join_key(path, second),
                    format!("conflicts with {first} (expected at most one of path_prefix, path_exact, path_regex)"),
                );
                ok = false;
                PathMatch::Any
            }
        };
        let mut methods = Vec::new();
        for (i, m) in self.methods.iter().enumerate() {
            if de::is_header_name(m) {
                methods.push(m.to_ascii_uppercase());
            } else {
                report.error(
                    join_index(&join_key(path, "methods"), i),
                    format!("{m:?} is not an HTTP method (expected a token such as \"GET\")"),
                );
            }
        }
        let mut headers = BTreeMap::new();
        for (name, value) in self.headers {
            if !de::is_header_name(&name) {
                report.error(
                    join_key(&join_key(path, "headers"), &name),
                    "not a valid header name",
                );
                continue;
            }
            let m = if value == "*" {
                HeaderMatch::Present
            } else {
                HeaderMatch::Exact(value)
            };
            headers.insert(name, m);
        }
        let target = match (self.upstream, self.split) {
            (Some(u), None) => Some(RouteTarget::Upstream(u)),
            (None, Some(s)) => Some(RouteTarget::Split(s)),
            (Some(_), Some(_)) => {
                report.error(
                    join_key(path, "split"),
                    "conflicts with upstream (expected exactly one of upstream, split)",
                );
                None
            }
            (None, None) => {
                report.error(
                    join_key(path, "upstream"),
                    "missing (expected exactly one of upstream = \"name\", split = { name = weight })",
                );
                None
            }
        };
        Some(RouteConfig {
            host,
            path: path_match,
            methods,
            headers,
            target: target?,
            timeout: self.timeout.unwrap_or(DEFAULT_ROUTE_TIMEOUT),
            request_headers: self.request_headers,
            response_headers: self.response_headers,
        })
        .filter(|_| ok)
    }
}

fn lower_path(key: &str, value: &str, at: &str, report: &mut Report) -> Option<PathMatch> {
    if key == "path_regex" {
        return match regex::Regex::new(&format!("^(?:{value})$")) {
            Ok(_) => Some(PathMatch::Regex(value.to_owned())),
            Err(e) => {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or("invalid").trim();
                report.error(at, format!("{value:?} is not a valid regex: {last}"));
                None
            }
        };
    }
    if !value.starts_with('/') {
        report.error(at, format!("{value:?} does not start with '/'"));
        return None;
    }
    Some(if key == "path_prefix" {
        PathMatch::Prefix(value.to_owned())
    } else {
        PathMatch::Exact(value.to_owned())
    })
}
