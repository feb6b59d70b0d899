//! Helpers shared by the integration tests (included with `mod support;`).
// Not every test file uses every helper; a panic in a helper fails the test.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use lb_balance::{Algorithm, Balancer, Endpoint, PickRequest};

/// Every algorithm, plus the bounded-load variants.
pub fn all_algorithms() -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = lb_balance::ALGORITHM_NAMES
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    out.push(Algorithm::ConsistentHash {
        vnodes: 40,
        bounded_load: Some(1.25),
    });
    out.push(Algorithm::Maglev {
        table_size: 1009,
        bounded_load: Some(1.25),
    });
    out
}

/// Endpoints `s0`, `s1`, ... with these weights; the value is the position.
pub fn weighted(weights: &[u32]) -> Vec<Endpoint<usize>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Endpoint::new(format!("s{i}"), i).with_weight(w))
        .collect()
}

/// The value picked for `key`.
pub fn pick<T: Clone>(b: &Balancer<T>, key: Option<u64>) -> Option<T> {
    b.pick(&PickRequest { key, exclude: &[] })
        .map(|e| e.value().clone())
}

/// Fixed keys: the hash of `"key-<i>"`.
pub fn keys(n: usize) -> Vec<u64> {
    (0..n)
        .map(|i| lb_balance::hash::hash_key(format!("key-{i}").as_bytes()))
        .collect()
}
