//! The tower `Service`: balancing, errors and in-flight bookkeeping on
//! completion and on drop.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use lb_balance::balance::BoxError;
use lb_balance::{Algorithm, Balance, BalanceLayer, Balancer, Endpoint, NoEndpoints};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

type Named = tower::util::BoxCloneSyncService<(), &'static str, Infallible>;

fn named(name: &'static str) -> Named {
    tower::util::BoxCloneSyncService::new(service_fn(move |()| async move { Ok(name) }))
}

#[tokio::test]
async fn round_robin_over_inner_services() {
    let svc = Balance::new(
        Algorithm::RoundRobin,
        vec![
            Endpoint::new("a", named("a")),
            Endpoint::new("b", named("b")).with_weight(2),
        ],
    );
    let mut out = Vec::new();
    for _ in 0..6 {
        out.push(svc.clone().oneshot(()).await.unwrap());
    }
    assert_eq!(out, ["b", "a", "b", "b", "a", "b"]);
}

#[tokio::test]
async fn no_available_endpoint_is_a_no_endpoints_error() {
    let svc = Balance::new(Algorithm::P2c, vec![Endpoint::new("a", named("a"))]);
    svc.get_ref().snapshot().endpoints()[0]
        .state()
        .set_unhealthy(true);
    let err: BoxError = svc.oneshot(()).await.unwrap_err();
    assert!(err.downcast_ref::<NoEndpoints>().is_some(), "{err}");
}

#[tokio::test]
async fn in_flight_ends_on_completion_and_when_the_future_is_dropped() {
    let go = Arc::new(tokio::sync::Notify::new());
    let slow = service_fn({
        let go = Arc::clone(&go);
        move |()| {
            let go = Arc::clone(&go);
            async move {
                go.notified().await;
                Ok::<_, Infallible>("done")
            }
        }
    });
    let endpoint = Endpoint::new("slow", slow);
    let state = Arc::clone(endpoint.state());
    let mut svc = Balance::new(Algorithm::LeastConn, vec![endpoint]);

    // Dropped half-way: the count goes back down.
    let mut cx = Context::from_waker(Waker::noop());
    {
        let fut = pin!(svc.call(()));
        assert!(fut.poll(&mut cx).is_pending());
        assert_eq!(state.in_flight(), 1);
    }
    assert_eq!(state.in_flight(), 0);

    // Completed: counted while running, ended after.
    let fut = tokio::spawn(svc.clone().oneshot(()));
    go.notify_one();
    assert_eq!(fut.await.unwrap().unwrap(), "done");
    assert_eq!(state.in_flight(), 0);
    assert_eq!(state.stats.requests.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn an_inner_error_counts_as_a_failure() {
    let failing = service_fn(|()| async { Err::<(), _>(std::io::Error::other("refused")) });
    let endpoint = Endpoint::new("bad", failing);
    let state = Arc::clone(endpoint.state());
    let svc = Balance::new(Algorithm::Random, vec![endpoint]);
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(err.to_string(), "refused");
    assert_eq!(state.stats.failures.load(Ordering::Relaxed), 1);
    assert_eq!(state.in_flight(), 0);
}

/// Not ready on its first poll (and wakes the task), ready after.
#[derive(Clone)]
struct SlowToStart(Arc<AtomicBool>);

impl Service<u32> for SlowToStart {
    type Response = u32;
    type Error = Infallible;
    type Future = std::future::Ready<Result<u32, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.0.swap(true, Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn call(&mut self, x: u32) -> Self::Future {
        std::future::ready(Ok(x * 2))
    }
}

#[tokio::test]
async fn the_picked_service_readiness_is_driven_in_the_response_future() {
    let started = Arc::new(AtomicBool::new(false));
    let svc = Balance::new(
        Algorithm::RoundRobin,
        vec![Endpoint::new("x", SlowToStart(Arc::clone(&started)))],
    );
    assert_eq!(svc.oneshot(21).await.unwrap(), 42);
    assert!(started.load(Ordering::SeqCst));
}

#[tokio::test]
async fn the_layer_composes_with_user_layers_and_keys() {
    let double = service_fn(|x: u64| async move { Ok::<_, Infallible>(x * 2) });
    let svc = ServiceBuilder::new()
        .map_request(|x: u64| x + 1)
        .layer(BalanceLayer::new("consistent_hash".parse().unwrap()).key(|x: &u64| Some(*x)))
        .service(vec![Endpoint::new("a", double), Endpoint::new("b", double)]);
    assert_eq!(svc.oneshot(20).await.unwrap(), 42);
}

#[tokio::test]
async fn a_shared_balancer_can_change_membership_under_the_service() {
    let balancer = Arc::new(Balancer::new(
        Algorithm::RoundRobin,
        vec![Endpoint::new("a", named("a"))],
    ));
    let svc = Balance::from_balancer(Arc::clone(&balancer), lb_balance::balance::NoKey);
    assert_eq!(svc.clone().oneshot(()).await.unwrap(), "a");
    balancer.update(vec![Endpoint::new("b", named("b"))]);
    assert_eq!(svc.oneshot(()).await.unwrap(), "b");
}
