//! Nanoseconds per pick, per algorithm, at 3, 100 and 1000 endpoints.
//!
//! `cargo bench -p lb-balance --bench pick -- --warm-up-time 1 --measurement-time 2`
//!
//! Each pick is what a proxy does per request: load the snapshot, pick,
//! clone the endpoint (two `Arc`s). Endpoints have weights 1-3; keys change
//! on every pick. The `*_loaded` variants hold in-flight requests (one on
//! each server, two on every third), so `least_conn` has to scan every
//! server and bounded loads have to sum the load. The
//! `baseline` group is a naive round robin over a `Mutex<usize>`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Mutex;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lb_balance::{Algorithm, Balancer, Endpoint, InFlight, PickRequest};

const SIZES: [usize; 3] = [3, 100, 1000];

fn endpoints(n: usize) -> Vec<Endpoint<SocketAddr>> {
    (0..n)
        .map(|i| {
            let addr = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 8080));
            Endpoint::new(addr.to_string(), addr).with_weight(1 + (i % 3) as u32)
        })
        .collect()
}

fn algorithms() -> Vec<(String, Algorithm, bool)> {
    let mut out: Vec<(String, Algorithm, bool)> = lb_balance::ALGORITHM_NAMES
        .iter()
        .filter_map(|n| Some((n.to_string(), n.parse().ok()?, false)))
        .collect();
    out.push(("least_conn_loaded".into(), Algorithm::LeastConn, true));
    for (name, loaded) in [("bounded", false), ("bounded_loaded", true)] {
        out.push((
            format!("consistent_hash_{name}"),
            Algorithm::ConsistentHash {
                vnodes: 160,
                bounded_load: Some(1.25),
            },
            loaded,
        ));
        out.push((
            format!("maglev_{name}"),
            Algorithm::Maglev {
                table_size: 65537,
                bounded_load: Some(1.25),
            },
            loaded,
        ));
    }
    out
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    for (name, algorithm, loaded) in algorithms() {
        for n in SIZES {
            let eps = endpoints(n);
            let guards: Vec<InFlight> = if loaded {
                let every = eps.iter().map(|e| e.state().start());
                every
                    .chain(eps.iter().step_by(3).map(|e| e.state().start()))
                    .collect()
            } else {
                Vec::new()
            };
            let balancer = Balancer::new(algorithm.clone(), eps);
            let mut key = 0u64;
            group.bench_with_input(BenchmarkId::new(&name, n), &n, |b, _| {
                b.iter(|| {
                    key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    balancer.pick(black_box(&PickRequest::with_key(key)))
                });
            });
            // Correctness after the loop: every pick finds a server.
            assert!(balancer.pick(&PickRequest::with_key(key)).is_some());
            drop(guards);
        }
    }
    group.finish();

    let mut group = c.benchmark_group("baseline");
    for n in SIZES {
        let eps = endpoints(n);
        let next = Mutex::new(0usize);
        group.bench_with_input(BenchmarkId::new("mutex_round_robin", n), &n, |b, _| {
            b.iter(|| {
                let mut i = next.lock().unwrap_or_else(|e| e.into_inner());
                *i = (*i + 1) % eps.len();
                eps[*i].clone()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
