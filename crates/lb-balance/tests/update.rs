//! Membership changes keep the state of endpoints that stay.

use lb_balance::{Algorithm, Balancer, Endpoint, PickRequest};

#[test]
fn update_keeps_state_by_id_and_drops_removed_endpoints() {
    let b = Balancer::new(
        Algorithm::LeastConn,
        vec![Endpoint::new("a", 1), Endpoint::new("b", 2)],
    );
    let old = b.snapshot();
    let a_state = old.get("a").unwrap().state().clone();
    a_state.set_draining(true);
    let guard = a_state.start();

    b.update(vec![
        Endpoint::new("a", 10).with_weight(5),
        Endpoint::new("c", 3),
    ]);
    let new = b.snapshot();
    let a = new.get("a").unwrap();
    assert!(std::sync::Arc::ptr_eq(a.state(), &a_state));
    assert_eq!((*a.value(), a.weight(), a.state().in_flight()), (10, 5, 1));
    assert!(a.state().is_draining());
    assert!(new.get("b").is_none());
    // "a" drains, "b" is gone: only "c" is picked.
    for _ in 0..5 {
        assert_eq!(*b.pick(&PickRequest::default()).unwrap().value(), 3);
    }
    drop(guard);
    assert_eq!(a_state.in_flight(), 0);
}

#[test]
fn update_rebuilds_the_hash_tables() {
    let b = Balancer::new("maglev".parse().unwrap(), vec![Endpoint::new("a", 'a')]);
    b.update(vec![Endpoint::new("a", 'a'), Endpoint::new("b", 'b')]);
    let seen: std::collections::HashSet<char> = (0..200u64)
        .map(|k| {
            *b.pick(&PickRequest::with_key(
                k.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ))
            .unwrap()
            .value()
        })
        .collect();
    assert_eq!(seen.len(), 2);
}
