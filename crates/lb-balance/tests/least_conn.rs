//! `least_conn`: always a minimum of in-flight / weight; ties rotate.

mod support;

use lb_balance::{Algorithm, Balancer, InFlight};
use proptest::prelude::*;
use support::{pick, weighted};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn picks_a_minimum_of_in_flight_per_weight(
        servers in prop::collection::vec((1u32..=4, 0u32..6, any::<bool>()), 1..=8),
        picks in 1usize..20,
    ) {
        let weights: Vec<u32> = servers.iter().map(|s| s.0).collect();
        let eps = weighted(&weights);
        let mut guards: Vec<InFlight> = Vec::new();
        for (e, &(_, load, down)) in eps.iter().zip(&servers) {
            e.state().set_ejected(down);
            guards.extend((0..load).map(|_| e.state().start()));
        }
        let b = Balancer::new(Algorithm::LeastConn, eps.clone());
        for _ in 0..picks {
            let picked = pick(&b, None);
            let available: Vec<usize> =
                (0..eps.len()).filter(|&i| eps[i].state().is_available()).collect();
            let Some(p) = picked else {
                prop_assert!(available.is_empty());
                break;
            };
            prop_assert!(eps[p].state().is_available());
            let ratio = |i: usize| (u64::from(eps[i].state().in_flight()), u64::from(weights[i]));
            let (pl, pw) = ratio(p);
            for &i in &available {
                let (l, w) = ratio(i);
                // pl / pw <= l / w
                prop_assert!(pl * w <= l * pw, "picked {} ({}/{}) over {} ({}/{})", p, pl, pw, i, l, w);
            }
            guards.push(eps[p].state().start());
        }
    }
}

#[test]
fn ties_rotate() {
    let b = Balancer::new(Algorithm::LeastConn, weighted(&[1, 1, 1]));
    let picks: Vec<usize> = (0..6).map(|_| pick(&b, None).unwrap()).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn idle_servers_follow_their_weights() {
    let b = Balancer::new(Algorithm::LeastConn, weighted(&[3, 1]));
    let picks: Vec<usize> = (0..8).map(|_| pick(&b, None).unwrap()).collect();
    assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 6);
}
