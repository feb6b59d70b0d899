//! One endpoint (a server, or an inner service) of an endpoint set.
//!
//! An [`Endpoint`] pairs a stable id and a user value with its weight, backup
//! flag and shared [`EndpointState`]. Balancers hold endpoints by id, never
//! by position, so a membership change cannot send a request to the wrong
//! server.

use std::sync::Arc;

use crate::state::EndpointState;

/// The stable identity of an endpoint: for servers, `"host:port"` as written in
/// the configuration (or the resolved `"ip:port"`). Hash algorithms hash these
/// bytes, so two instances with the same ids make the same picks.
pub type EndpointId = Arc<str>;

/// One member of an endpoint set: a stable id, a user value (typically the
/// server's `SocketAddr`, or an inner service), weight, backup flag and the
/// shared [`EndpointState`].
#[derive(Debug)]
pub struct Endpoint<T> {
    id: EndpointId,
    value: T,
    weight: u32,
    backup: bool,
    state: Arc<EndpointState>,
}

impl<T: Clone> Clone for Endpoint<T> {
    fn clone(&self) -> Self {
        Self {
            id: Arc::clone(&self.id),
            value: self.value.clone(),
            weight: self.weight,
            backup: self.backup,
            state: Arc::clone(&self.state),
        }
    }
}

impl<T> Endpoint<T> {
    /// A primary endpoint of weight 1 with fresh (healthy) state.
    pub fn new(id: impl Into<EndpointId>, value: T) -> Self {
        Self {
            id: id.into(),
            value,
            weight: 1,
            backup: false,
            state: Arc::new(EndpointState::new()),
        }
    }

    /// Set the weight (0 is treated as 1).
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }

    /// Mark as a backup: used only when no primary is available.
    #[must_use]
    pub fn with_backup(mut self, backup: bool) -> Self {
        self.backup = backup;
        self
    }

    /// Use an existing shared state (e.g. to keep it across a reload).
    #[must_use]
    pub fn with_state(mut self, state: Arc<EndpointState>) -> Self {
        self.state = state;
        self
    }

    /// The stable id.
    #[must_use]
    pub fn id(&self) -> &EndpointId {
        &self.id
    }

    /// The user value.
    #[must_use]
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The weight (at least 1).
    #[must_use]
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Whether this is a backup endpoint.
    #[must_use]
    pub fn is_backup(&self) -> bool {
        self.backup
    }

    /// The shared state.
    #[must_use]
    pub fn state(&self) -> &Arc<EndpointState> {
        &self.state
    }

    /// The user value, consuming the endpoint (e.g. to call an inner service
    /// picked by [`Balancer::pick`](crate::Balancer::pick)).
    #[must_use]
    pub fn into_value(self) -> T {
        self.value
    }
}
