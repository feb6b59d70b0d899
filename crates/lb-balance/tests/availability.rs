//! Every algorithm: never an unavailable or excluded endpoint while a
//! pickable one exists, and backups only when no primary can be picked.

mod support;

use lb_balance::{Balancer, Endpoint, InFlight, PickRequest};
use proptest::prelude::*;
use support::all_algorithms;

#[derive(Debug, Clone)]
struct Server {
    weight: u32,
    backup: bool,
    /// 0 healthy, 1 unhealthy, 2 ejected, 3 draining.
    condition: u8,
    in_flight: u32,
    /// Connection limit equal to the in-flight count (full when > 0).
    full: bool,
    excluded: bool,
}

fn server() -> impl Strategy<Value = Server> {
    (
        1u32..=3,
        any::<bool>(),
        0u8..4,
        0u32..3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(weight, backup, condition, in_flight, full, excluded)| Server {
                weight,
                backup,
                // Healthy half the time.
                condition: condition.saturating_sub(1) * u8::from(condition % 2 == 1),
                in_flight,
                full,
                excluded,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn never_unavailable_while_available_exists(
        servers in prop::collection::vec(server(), 1..=10),
        key in prop::option::of(any::<u64>()),
        algorithm in 0usize..10,
        seed in any::<u64>(),
    ) {
        let algorithm = all_algorithms()[algorithm].clone();
        let eps: Vec<Endpoint<usize>> = servers
            .iter()
            .enumerate()
            .map(|(i, s)| Endpoint::new(format!("s{i}"), i).with_weight(s.weight).with_backup(s.backup))
            .collect();
        let mut guards: Vec<InFlight> = Vec::new();
        for (e, s) in eps.iter().zip(&servers) {
            let st = e.state();
            st.set_unhealthy(s.condition == 1);
            st.set_ejected(s.condition == 2);
            st.set_draining(s.condition == 3);
            guards.extend((0..s.in_flight).map(|_| st.start()));
            if s.full {
                st.set_max_in_flight(s.in_flight.max(1));
            }
        }
        let exclude: Vec<u64> = eps
            .iter()
            .zip(&servers)
            .filter(|(_, s)| s.excluded)
            .map(|(e, _)| e.state().uid())
            .collect();
        let pickable = |i: usize| eps[i].state().is_available() && !servers[i].excluded;
        let primaries: Vec<usize> = (0..eps.len()).filter(|&i| pickable(i) && !servers[i].backup).collect();
        let backups: Vec<usize> = (0..eps.len()).filter(|&i| pickable(i) && servers[i].backup).collect();
        let b = Balancer::new(algorithm.clone(), eps.clone()).with_seed(seed);
        for _ in 0..4 {
            let picked = b.pick(&PickRequest { key, exclude: &exclude }).map(|e| *e.value());
            match picked {
                Some(p) if !primaries.is_empty() => prop_assert!(primaries.contains(&p), "{} picked {}", algorithm, p),
                Some(p) => prop_assert!(backups.contains(&p), "{} picked {}", algorithm, p),
                None => prop_assert!(primaries.is_empty() && backups.is_empty(), "{} picked nothing", algorithm),
            }
        }
    }
}
