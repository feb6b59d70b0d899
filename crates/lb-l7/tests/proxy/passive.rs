//! Outcomes reach passive outlier detection: a server failing in a row is
//! ejected, and the next requests go elsewhere.

use std::sync::Arc;

use lb_balance::{Algorithm, Balancer, Endpoint};
use lb_health::events::EventSink;
use lb_health::passive::{OutlierDetector, PassiveConfig};
use lb_l7::{ListenerOptions, Upstream, UpstreamOptions};
use lb_test_support::HttpBackend;

use crate::support::*;

#[tokio::test]
async fn failures_are_reported_to_the_outlier_detector() {
    let bad = HttpBackend::start("bad").await;
    bad.set_status(500);
    let good = HttpBackend::start("good").await;
    let eps = vec![
        Endpoint::new(bad.addr().to_string(), bad.addr()),
        Endpoint::new(good.addr().to_string(), good.addr()),
    ];
    let balancer = Arc::new(Balancer::new(Algorithm::RoundRobin, eps));
    let mut cfg = PassiveConfig::default();
    cfg.consecutive_failures = 2;
    let detector = OutlierDetector::new(
        "api".into(),
        Arc::clone(&balancer),
        cfg,
        EventSink::default(),
    );
    let up = Arc::new(Upstream::new(
        "api".into(),
        Arc::clone(&balancer),
        UpstreamOptions::default(),
        Some(Arc::new(detector)),
    ));
    let proxy = Proxy::start(ListenerOptions::default(), routing(vec![to("api")], &[&up])).await;

    // Round robin: bad, good, bad (second failure in a row: ejected).
    let mut client = H1::connect(proxy.addr).await;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(client.get("/").await.status().as_u16());
        }
        v
    };
    assert_eq!(statuses, [500, 200, 500]);
    let bad_state = Arc::clone(balancer.snapshot().endpoints()[0].state());
    assert!(bad_state.is_ejected(), "{bad_state:?}");
    assert_eq!(
        bad_state
            .stats
            .failures
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );

    for _ in 0..4 {
        assert_eq!(backend_name(&client.get("/").await), "good");
    }
}
