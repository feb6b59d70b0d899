//! The error [`Balance`](super::Balance) originates.

/// No endpoint could take the request: every one is unhealthy, ejected,
/// draining or at its connection limit, and so is every backup (an HTTP
/// proxy answers 503).
///
/// Returned boxed in [`BoxError`](super::BoxError); find it with
/// `error.downcast_ref::<NoEndpoints>()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("no endpoint is available")]
pub struct NoEndpoints;
