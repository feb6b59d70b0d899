//! Route tables: pure data and matching, with no tower and no I/O.
//!
//! A listener's routes are tried in order and the first whose matchers all hold wins:
//!
//! - **host**: exact (`example.com`) or wildcard (`*.example.com`, any subdomain at any depth
//!   but not the apex), ASCII case-insensitive. The request host is the URI authority
//!   (HTTP/2 `:authority`, absolute-form HTTP/1.1) else the `Host` header, port removed
//!   ([`request_host`]). A request without a host never matches a host matcher.
//! - **path**: [`PathMatch::Prefix`] (plain string prefix), [`PathMatch::Exact`], or
//!   [`PathMatch::Regex`] (compiled at load and **not anchored** unless the pattern says
//!   `^`/`$`). The path is matched as received (no decoding or normalization), without the query.
//! - **methods**: any of them.
//! - **headers**: all must hold; [`HeaderMatch::Exact`] compares values case-sensitively,
//!   [`HeaderMatch::Present`] (`"*"`) only asks for the header.
//!
//! A route without matchers matches everything. [`RouteTable::find`] allocates nothing;
//! [`RouteTable::explain`] says, route by route, why a request did or did not match.
//!
//! ```
//! use http::{HeaderMap, HeaderValue, Method};
//! use lb_l7::route::{HeaderMatch, PathMatch, RouteSpec, RouteTable, Target};
//!
//! let table = RouteTable::new(vec![
//!     RouteSpec::new(Target::Upstream("canary".into()))
//!         .with_header("x-canary".parse()?, HeaderMatch::Exact(HeaderValue::from_static("true"))),
//!     RouteSpec::new(Target::Split(vec![("api".into(), 95), ("canary".into(), 5)]))
//!         .with_host("*.example.com")
//!         .with_path(PathMatch::Prefix("/api/".into())),
//! ])?;
//!
//! let route = table.find(&Method::GET, Some("www.example.com:8443"), "/api/v2/x", &HeaderMap::new());
//! let route = route.ok_or("no route")?;
//! assert_eq!(route.index(), 1);
//! assert_eq!(route.pick_upstream(3), "api"); // 3 % 100 < 95
//! assert_eq!(route.pick_upstream(97), "canary");
//!
//! let why = table.explain(&Method::GET, Some("example.com"), "/api/", &HeaderMap::new());
//! assert_eq!(why.matched(), None);
//! println!("{why}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod explain;
mod host;
mod matcher;
mod spec;
mod split;
mod table;

pub use explain::{Explanation, Mismatch, Verdict};
pub(crate) use host::host_of;
pub use host::request_host;
pub use spec::{HeaderMatch, PathMatch, RouteSpec, Target};
pub use table::{Route, RouteError, RouteTable};
