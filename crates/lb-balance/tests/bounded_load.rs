//! Bounded loads (Mirrokni, Thorup, Zadimoghaddam) on `consistent_hash` and
//! `maglev`: a pick never takes a server above `ceil(c × average)`.

mod support;

use lb_balance::{Algorithm, Balancer, InFlight};
use proptest::prelude::*;
use support::weighted;

#[derive(Debug, Clone)]
enum Op {
    Pick(u64),
    Finish(prop::sample::Index),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<u64>().prop_map(Op::Pick),
            1 => any::<prop::sample::Index>().prop_map(Op::Finish),
        ],
        1..200,
    )
}

fn check(algorithm: Algorithm, c: f64, weights: &[u32], ops: &[Op]) -> Result<(), TestCaseError> {
    let eps = weighted(weights);
    let b = Balancer::new(algorithm, eps.clone());
    let weight_sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut guards: Vec<InFlight> = Vec::new();
    for op in ops {
        match op {
            Op::Finish(i) if !guards.is_empty() => {
                let g = guards.swap_remove(i.index(guards.len()));
                g.finish();
            }
            Op::Finish(_) => {}
            Op::Pick(key) => {
                let total: u64 = eps.iter().map(|e| u64::from(e.state().in_flight())).sum();
                let picked = b
                    .pick(&lb_balance::PickRequest::with_key(*key))
                    .ok_or_else(|| TestCaseError::fail("no pick"))?;
                let p = *picked.value();
                let load = f64::from(eps[p].state().in_flight()) + 1.0;
                let cap =
                    (c * (total + 1) as f64 * f64::from(weights[p]) / weight_sum as f64).ceil();
                prop_assert!(
                    load <= cap,
                    "server {} at {} over cap {} (total {})",
                    p,
                    load,
                    cap,
                    total
                );
                guards.push(picked.state().start());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn ring_never_exceeds_the_bound(
        weights in prop::collection::vec(1u32..=3, 2..=8),
        c in 1.0f64..2.0,
        ops in ops(),
    ) {
        check(Algorithm::ConsistentHash { vnodes: 40, bounded_load: Some(c) }, c, &weights, &ops)?;
    }

    #[test]
    fn maglev_never_exceeds_the_bound(
        weights in prop::collection::vec(1u32..=3, 2..=8),
        c in 1.0f64..2.0,
        ops in ops(),
    ) {
        check(Algorithm::Maglev { table_size: 1009, bounded_load: Some(c) }, c, &weights, &ops)?;
    }
}

#[test]
fn an_idle_set_keeps_keys_sticky() {
    let b = Balancer::new(
        Algorithm::ConsistentHash {
            vnodes: 160,
            bounded_load: Some(1.25),
        },
        weighted(&[1, 1, 1, 1]),
    );
    for key in support::keys(200) {
        assert_eq!(support::pick(&b, Some(key)), support::pick(&b, Some(key)));
    }
}

#[test]
fn a_hot_key_spills_over_to_other_servers() {
    let eps = weighted(&[1, 1, 1, 1]);
    let b = Balancer::new(
        Algorithm::Maglev {
            table_size: 65537,
            bounded_load: Some(1.25),
        },
        eps.clone(),
    );
    let guards: Vec<InFlight> = (0..40)
        .map(|_| {
            b.pick(&lb_balance::PickRequest::with_key(42))
                .unwrap()
                .state()
                .start()
        })
        .collect();
    // 40 requests on 4 servers, none above ceil(1.25 × 40 / 4) = 13.
    assert!(eps.iter().all(|e| e.state().in_flight() <= 13));
    assert!(eps.iter().filter(|e| e.state().in_flight() > 0).count() >= 3);
    drop(guards);
}
