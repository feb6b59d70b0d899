//! `Balance` in a tower stack, without lb-server: a user's own layer on top,
//! consistent hashing by user name over three inner services, an endpoint
//! drained at run time, and the error when nothing is left.
//!
//! `cargo run -p lb-balance --example tower_stack`

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use lb_balance::balance::BoxError;
use lb_balance::{hash, Algorithm, Balance, Balancer, Endpoint, NoEndpoints};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

/// The request our stack serves.
#[derive(Debug, Clone)]
struct Request {
    id: u64,
    user: String,
}

/// A user's own middleware: stamps each request with a sequence number.
#[derive(Debug, Clone, Default)]
struct RequestIdLayer {
    next: Arc<AtomicU64>,
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;
    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId {
            inner,
            next: Arc::clone(&self.next),
        }
    }
}

#[derive(Debug, Clone)]
struct RequestId<S> {
    inner: S,
    next: Arc<AtomicU64>,
}

impl<S: Service<Request>> Service<Request> for RequestId<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> S::Future {
        req.id = self.next.fetch_add(1, Ordering::Relaxed);
        self.inner.call(req)
    }
}

/// An inner service: in real life a connection pool to one server.
fn backend(
    name: &'static str,
) -> impl Service<Request, Response = String, Error = Infallible, Future = impl Send> + Clone + Send
{
    service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(format!(
            "request {} from {} served by {name}",
            req.id, req.user
        ))
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let balancer = Arc::new(Balancer::new(
        Algorithm::ConsistentHash {
            vnodes: 160,
            bounded_load: Some(1.25),
        },
        vec![
            Endpoint::new("10.0.0.1:8080", backend("one")),
            Endpoint::new("10.0.0.2:8080", backend("two")).with_weight(2),
            Endpoint::new("10.0.0.3:8080", backend("spare")).with_backup(true),
        ],
    ));
    let key = |req: &Request| Some(hash::hash_key(req.user.as_bytes()));
    let stack = ServiceBuilder::new()
        .layer(RequestIdLayer::default())
        .service(Balance::from_balancer(Arc::clone(&balancer), key));

    let ask = |user: &str| {
        stack.clone().oneshot(Request {
            id: 0,
            user: user.to_owned(),
        })
    };
    for user in ["alice", "bob", "carol", "alice", "bob"] {
        println!("{}", ask(user).await?);
    }

    // An operator drains the primaries: their users move to the backup.
    for e in balancer.snapshot().endpoints() {
        if !e.is_backup() {
            e.state().set_draining(true);
        }
    }
    println!("{}", ask("alice").await?);

    // Nothing left: the stack answers NoEndpoints (an HTTP proxy sends 503).
    balancer.snapshot().endpoints()[2]
        .state()
        .set_unhealthy(true);
    match ask("alice").await {
        Err(e) if e.downcast_ref::<NoEndpoints>().is_some() => println!("error: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
