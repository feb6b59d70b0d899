//! [`KeyFn`]: how [`Balance`](super::Balance) finds a request's hash key.

/// Takes the hash key of a request, for `ip_hash`, `consistent_hash` and
/// `maglev` (hash the bytes with [`crate::hash`]).
///
/// Implemented by every `Fn(&Req) -> Option<u64>`, and by [`NoKey`].
pub trait KeyFn<Req> {
    /// The key of `req`, or `None` (hash algorithms then use round robin).
    fn key(&self, req: &Req) -> Option<u64>;
}

impl<Req, F> KeyFn<Req> for F
where
    F: Fn(&Req) -> Option<u64>,
{
    fn key(&self, req: &Req) -> Option<u64> {
        self(req)
    }
}

/// No key: for algorithms that do not hash.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKey;

impl<Req> KeyFn<Req> for NoKey {
    fn key(&self, _req: &Req) -> Option<u64> {
        None
    }
}
