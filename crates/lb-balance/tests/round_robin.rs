//! `round_robin`: smooth weighted, exact proportions in every window.

mod support;

use lb_balance::{Algorithm, Balancer};
use proptest::prelude::*;
use support::{pick, weighted};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_window_of_sum_weights_picks_has_exact_proportions(
        weights in prop::collection::vec(1u32..=6, 1..=6),
        offset in 0usize..40,
    ) {
        let b = Balancer::new(Algorithm::RoundRobin, weighted(&weights));
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        for _ in 0..offset {
            let _ = pick(&b, None);
        }
        let picks: Vec<usize> = (0..3 * total).map(|_| pick(&b, None).unwrap()).collect();
        for window in picks.windows(total) {
            let mut counts = vec![0u32; weights.len()];
            window.iter().for_each(|&p| counts[p] += 1);
            prop_assert_eq!(&counts, &weights);
        }
    }
}

#[test]
fn weights_3_1_1_spread_as_nginx() {
    let b = Balancer::new(Algorithm::RoundRobin, weighted(&[3, 1, 1]));
    let picks: Vec<usize> = (0..10).map(|_| pick(&b, None).unwrap()).collect();
    assert_eq!(picks, [0, 1, 0, 2, 0, 0, 1, 0, 2, 0]);
}

#[test]
fn an_unavailable_server_is_skipped_and_the_rest_keep_their_ratio() {
    let eps = weighted(&[2, 1, 1]);
    eps[1].state().set_unhealthy(true);
    let b = Balancer::new(Algorithm::RoundRobin, eps);
    let mut counts = [0u32; 3];
    for _ in 0..300 {
        counts[pick(&b, None).unwrap()] += 1;
    }
    assert_eq!(counts, [200, 0, 100]);
}
