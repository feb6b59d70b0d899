//! `random`, `p2c` and `peak_ewma`: weighted draws, load and latency
//! awareness, and reproducibility with a seed.

// Helpers outside `#[test]` fns: a panic there is the test failing.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use lb_balance::{Algorithm, Balancer, InFlight};
use support::{pick, weighted};

fn counts(b: &Balancer<usize>, n: usize, picks: usize) -> Vec<usize> {
    let mut out = vec![0; n];
    for _ in 0..picks {
        out[pick(b, None).unwrap()] += 1;
    }
    out
}

#[test]
fn random_and_idle_p2c_follow_the_weights() {
    for algorithm in [Algorithm::Random, Algorithm::P2c, Algorithm::PeakEwma] {
        let b = Balancer::new(algorithm.clone(), weighted(&[1, 2, 5])).with_seed(7);
        let c = counts(&b, 3, 16_000);
        if algorithm == Algorithm::Random {
            for (got, w) in c.iter().zip([1.0, 2.0, 5.0]) {
                let expected = 2_000.0 * w;
                assert!(
                    (*got as f64 - expected).abs() < 0.1 * expected,
                    "{algorithm}: {c:?}"
                );
            }
        } else {
            // Two draws, ties to the first: heavier servers still get more.
            assert!(c[2] > c[1] && c[1] > c[0], "{algorithm}: {c:?}");
        }
    }
}

#[test]
fn p2c_sends_to_the_less_loaded_of_two() {
    let eps = weighted(&[1, 1]);
    let _busy: Vec<InFlight> = (0..5).map(|_| eps[0].state().start()).collect();
    let b = Balancer::new(Algorithm::P2c, eps).with_seed(1);
    assert_eq!(counts(&b, 2, 200), [0, 200]);
}

#[test]
fn p2c_compares_load_per_unit_of_weight() {
    // 4 in flight on weight 4 (1 each) beats 2 on weight 1.
    let eps = weighted(&[4, 1]);
    let _a: Vec<InFlight> = (0..4).map(|_| eps[0].state().start()).collect();
    let _b: Vec<InFlight> = (0..2).map(|_| eps[1].state().start()).collect();
    let b = Balancer::new(Algorithm::P2c, eps).with_seed(3);
    assert_eq!(counts(&b, 2, 200), [200, 0]);
}

#[test]
fn peak_ewma_avoids_the_slow_server() {
    let eps = weighted(&[1, 1]);
    eps[0].state().record_latency(Duration::from_millis(200));
    eps[1].state().record_latency(Duration::from_millis(2));
    let b = Balancer::new(Algorithm::PeakEwma, eps).with_seed(5);
    assert_eq!(counts(&b, 2, 200), [0, 200]);
}

#[test]
fn peak_ewma_weighs_in_flight_requests() {
    // Same latency; the server with requests in flight costs more.
    let eps = weighted(&[1, 1]);
    eps.iter()
        .for_each(|e| e.state().record_latency(Duration::from_millis(10)));
    let _busy: Vec<InFlight> = (0..3).map(|_| eps[1].state().start()).collect();
    let b = Balancer::new(Algorithm::PeakEwma, eps).with_seed(5);
    assert_eq!(counts(&b, 2, 100), [100, 0]);
}

#[test]
fn a_seed_makes_the_picks_repeat() {
    for algorithm in [Algorithm::Random, Algorithm::P2c] {
        let run = |seed: u64| {
            let b = Balancer::new(algorithm.clone(), weighted(&[1, 1, 1, 1])).with_seed(seed);
            (0..32).map(|_| pick(&b, None).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }
}
