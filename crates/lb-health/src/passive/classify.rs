//! [`Classify`]: how a service's result becomes an [`Outcome`].

use std::any::Any;
use std::error::Error;
use std::io;

use super::{FailureKind, Outcome};
use crate::BoxError;

/// Decides whether a result of the wrapped service is a success or a
/// failure of the server.
///
/// Implement it for your own response and error types; the built-in
/// policies are [`DefaultClassify`] (HTTP) and [`ErrorsOnly`] (anything).
pub trait Classify<Res, E> {
    /// The outcome of one call.
    fn classify(&self, result: Result<&Res, &E>) -> Outcome;
}

/// The HTTP policy: a 5xx response is a failure, any error is a failure
/// classified by [`classify_error`], everything else is a success.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassify;

impl<B, E: 'static> Classify<http::Response<B>, E> for DefaultClassify {
    fn classify(&self, result: Result<&http::Response<B>, &E>) -> Outcome {
        match result {
            Ok(resp) if resp.status().is_server_error() => Outcome::Failure(FailureKind::Status5xx),
            Ok(_) => Outcome::Success,
            Err(error) => Outcome::Failure(classify_any(error)),
        }
    }
}

/// A policy for any service (e.g. an L4 connector): every `Ok` is a success,
/// every error a failure classified by [`classify_error`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsOnly;

impl<R, E: 'static> Classify<R, E> for ErrorsOnly {
    fn classify(&self, result: Result<&R, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(error) => Outcome::Failure(classify_any(error)),
        }
    }
}

/// Classify an error of a known concrete type, or a boxed one.
fn classify_any<E: 'static>(error: &E) -> FailureKind {
    let any: &dyn Any = error;
    if let Some(boxed) = any.downcast_ref::<BoxError>() {
        return classify_error(&**boxed);
    }
    if let Some(e) = any.downcast_ref::<io::Error>() {
        return classify_error(e);
    }
    if let Some(e) = any.downcast_ref::<hyper::Error>() {
        return classify_error(e);
    }
    if let Some(e) = any.downcast_ref::<hyper_util::client::legacy::Error>() {
        return classify_error(e);
    }
    if let Some(e) = any.downcast_ref::<tokio::time::error::Elapsed>() {
        return classify_error(e);
    }
    FailureKind::Other
}

/// Classify an error by walking its `source()` chain: hyper-util's connect
/// errors and refused/unreachable sockets are [`FailureKind::ConnectError`],
/// resets, aborts, broken pipes and incomplete messages are
/// [`FailureKind::Reset`], tokio's `Elapsed`, hyper timeouts and
/// `TimedOut` sockets are [`FailureKind::Timeout`], anything else
/// [`FailureKind::Other`].
#[must_use]
pub fn classify_error(error: &(dyn Error + 'static)) -> FailureKind {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(kind) = classify_one(e) {
            return kind;
        }
        next = e.source();
    }
    FailureKind::Other
}

fn classify_one(e: &(dyn Error + 'static)) -> Option<FailureKind> {
    if let Some(e) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
        if e.is_connect() {
            return Some(FailureKind::ConnectError);
        }
    }
    if e.is::<tokio::time::error::Elapsed>() {
        return Some(FailureKind::Timeout);
    }
    if let Some(e) = e.downcast_ref::<hyper::Error>() {
        if e.is_timeout() {
            return Some(FailureKind::Timeout);
        }
        if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
            return Some(FailureKind::Reset);
        }
    }
    if let Some(e) = e.downcast_ref::<io::Error>() {
        use io::ErrorKind as K;
        return match e.kind() {
            K::ConnectionRefused | K::AddrNotAvailable | K::NotConnected => {
                Some(FailureKind::ConnectError)
            }
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                Some(FailureKind::Reset)
            }
            K::TimedOut => Some(FailureKind::Timeout),
            // A wrapped error (`io::Error::other(e)`) hides `e` from
            // `source()`: look inside.
            _ => e
                .get_ref()
                .map(|inner| classify_error(inner))
                .filter(|k| *k != FailureKind::Other),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classify_http() {
        let c = DefaultClassify;
        let ok = http::Response::builder().status(204).body(()).unwrap();
        let bad = http::Response::builder().status(502).body(()).unwrap();
        let nf = http::Response::builder().status(404).body(()).unwrap();
        assert_eq!(c.classify(Ok::<_, &io::Error>(&ok)), Outcome::Success);
        assert_eq!(c.classify(Ok::<_, &io::Error>(&nf)), Outcome::Success);
        assert_eq!(
            c.classify(Ok::<_, &io::Error>(&bad)),
            Outcome::Failure(FailureKind::Status5xx)
        );
    }

    #[test]
    fn errors_are_classified_through_boxes_and_sources() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let c = ErrorsOnly;
        assert_eq!(
            Classify::<(), io::Error>::classify(&c, Err(&refused)),
            Outcome::Failure(FailureKind::ConnectError)
        );
        let boxed: BoxError = Box::new(io::Error::other(io::Error::from(
            io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(
            Classify::<(), BoxError>::classify(&c, Err(&boxed)),
            Outcome::Failure(FailureKind::Reset)
        );
        let weird: BoxError = "nope".into();
        assert_eq!(classify_error(&*weird), FailureKind::Other);
    }
}
