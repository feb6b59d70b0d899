//! [`Routing`]: the route table and the upstreams it names, published as
//! one snapshot so that a reload changes both at once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::route::RouteTable;
use crate::upstream::Upstream;

/// One consistent routing snapshot of a listener.
///
/// Build a new one on reload (reusing the `Arc<Upstream>`s that stay, so
/// their pools and counters carry over) and hand it to
/// [`HttpListener::update_routing`](crate::HttpListener::update_routing).
#[non_exhaustive]
pub struct Routing {
    /// The routes, in order.
    pub table: RouteTable,
    /// Every upstream a route names, by name.
    pub upstreams: HashMap<String, Arc<Upstream>>,
}

impl Routing {
    /// A snapshot of `table` over `upstreams`.
    #[must_use]
    pub fn new(table: RouteTable, upstreams: HashMap<String, Arc<Upstream>>) -> Self {
        Self { table, upstreams }
    }
}

impl fmt::Debug for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routing")
            .field("routes", &self.table.routes().len())
            .field("upstreams", &self.upstreams.keys().collect::<Vec<_>>())
            .finish()
    }
}
