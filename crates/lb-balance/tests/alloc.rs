//! A pick allocates nothing: every algorithm, with and without a key, with
//! exclusions and backups in play, and a call through the tower service.
//!
//! The counting allocator sees the whole process, so this file runs without
//! the libtest harness (`harness = false`): no other thread allocates while
//! it counts.

// Helpers outside `#[test]` fns: a panic there is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use lb_balance::{Algorithm, Balance, Balancer, Endpoint, PickRequest};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::Service;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn endpoints(n: usize) -> Vec<Endpoint<SocketAddr>> {
    (0..n)
        .map(|i| {
            let addr = SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8], 8080));
            Endpoint::new(addr.to_string(), addr)
                .with_weight(1 + (i % 3) as u32)
                .with_backup(i % 10 == 9)
        })
        .collect()
}

fn algorithms() -> Vec<Algorithm> {
    let mut all: Vec<Algorithm> = lb_balance::ALGORITHM_NAMES
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    all.push(Algorithm::ConsistentHash {
        vnodes: 160,
        bounded_load: Some(1.25),
    });
    all.push(Algorithm::Maglev {
        table_size: 65537,
        bounded_load: Some(1.25),
    });
    all
}

fn main() {
    picks_allocate_nothing();
    service_calls_allocate_nothing();
    println!("alloc: 2 passed, 0 failed");
}

fn picks_allocate_nothing() {
    for algorithm in algorithms() {
        let eps = endpoints(100);
        // Some load, some unavailable servers, one excluded.
        let guards: Vec<_> = eps.iter().step_by(7).map(|e| e.state().start()).collect();
        eps[3].state().set_unhealthy(true);
        eps[50].state().set_draining(true);
        let exclude = [eps[10].state().uid()];
        let b = Balancer::new(algorithm.clone(), eps);
        let reqs = [
            PickRequest::default(),
            PickRequest::with_key(0x1234_5678_9abc_def0),
            PickRequest {
                key: Some(42),
                exclude: &exclude,
            },
        ];
        // Warm up thread-locals (arc-swap's debt list, the RNG).
        for req in &reqs {
            let _ = b.pick(req);
        }
        let region = Region::new(GLOBAL);
        for i in 0..3_000u64 {
            let mut req = reqs[(i % 3) as usize];
            req.key = req.key.map(|k| k ^ i.wrapping_mul(0x9e37_79b9));
            let picked = b.pick(&req).expect("a server is available");
            let guard = picked.state().start();
            std::hint::black_box(picked.value());
            drop(guard);
        }
        let stats = region.change();
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{algorithm} allocated"
        );
        drop(guards);
    }
}

/// The tower service: call and complete a request, no allocation.
fn service_calls_allocate_nothing() {
    let echo = tower::service_fn(|x: u64| std::future::ready(Ok::<_, Infallible>(x)));
    let mut svc = Balance::with_key(
        "maglev".parse().unwrap(),
        vec![Endpoint::new("a", echo), Endpoint::new("b", echo)],
        |x: &u64| Some(*x),
    );
    let mut cx = Context::from_waker(Waker::noop());
    let mut call = |svc: &mut Balance<_, _>, x: u64| {
        assert!(matches!(
            Service::<u64>::poll_ready(svc, &mut cx),
            Poll::Ready(Ok(()))
        ));
        let fut = pin!(svc.call(x));
        match fut.poll(&mut cx) {
            Poll::Ready(Ok(y)) => assert_eq!(x, y),
            other => panic!("not ready: {other:?}"),
        }
    };
    call(&mut svc, 0);
    let region = Region::new(GLOBAL);
    for x in 1..1_000 {
        call(&mut svc, x);
    }
    assert_eq!(region.change().allocations, 0, "the service allocated");
}
