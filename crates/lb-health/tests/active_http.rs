//! Active HTTP checks against real backends whose `/health` flips; rounds
//! are driven one by one with `Checker::run_round`.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use lb_balance::{Algorithm, Balancer, Endpoint, Health, PickRequest};
use lb_health::active::{CheckError, CheckOutcome};
use lb_health::{ActiveConfig, CheckKind, Checker, Reason};
use support::{closed_port, recorder, trace_init, HeadRecorder, HttpBackend};

fn http_cfg(unhealthy: u32, healthy: u32) -> ActiveConfig {
    let mut cfg = ActiveConfig::new(CheckKind::Http {
        path: "/health".into(),
        host: None,
        expect: 200..=399,
    });
    cfg.unhealthy_threshold = unhealthy;
    cfg.healthy_threshold = healthy;
    // Generous: these tests run in real time and never wait for it.
    cfg.timeout = Duration::from_secs(10);
    cfg
}

fn balancer(addrs: &[SocketAddr]) -> Arc<Balancer<SocketAddr>> {
    Arc::new(Balancer::new(
        Algorithm::RoundRobin,
        addrs
            .iter()
            .map(|a| Endpoint::new(a.to_string(), *a))
            .collect(),
    ))
}

#[tokio::test]
async fn exactly_the_thresholds_flip_a_server_out_and_back() {
    trace_init();
    let backend = HttpBackend::start("b1").await;
    let other = HttpBackend::start("b2").await;
    let b = balancer(&[backend.addr(), other.addr()]);
    let (events, rec) = recorder();
    let mut checker = Checker::new("api".into(), Arc::clone(&b), &http_cfg(3, 2), events);
    let snap = b.snapshot();
    let state = Arc::clone(snap.endpoints()[0].state());

    assert!(checker
        .run_round()
        .await
        .results
        .iter()
        .all(|(_, o)| o.is_pass()));
    assert_eq!(state.health(), Health::Healthy);

    backend.set_healthy(false);
    for round in 1..=2 {
        let report = checker.run_round().await;
        assert!(!report.results[0].1.is_pass());
        assert_eq!(state.health(), Health::Healthy, "after {round} failures");
    }
    checker.run_round().await;
    assert_eq!(state.health(), Health::Unhealthy, "after 3 failures");
    // Out of the pool: every pick goes to the other server.
    for _ in 0..4 {
        assert_eq!(
            *b.pick(&PickRequest::default()).unwrap().value(),
            other.addr()
        );
    }

    backend.set_healthy(true);
    checker.run_round().await;
    assert_eq!(state.health(), Health::Unhealthy, "after 1 success");
    checker.run_round().await;
    assert_eq!(state.health(), Health::Healthy, "after 2 successes");

    assert_eq!(state.stats.checks_failed.load(Relaxed), 3);
    assert_eq!(state.stats.checks_ok.load(Relaxed), 3);
    let ev = rec.all();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        (ev[0].from, ev[0].to, ev[0].reason),
        (Health::Healthy, Health::Unhealthy, Reason::ChecksFailed)
    );
    assert_eq!(
        (ev[1].from, ev[1].to, ev[1].reason),
        (Health::Unhealthy, Health::Healthy, Reason::ChecksPassed)
    );
    assert_eq!(&*ev[0].server, backend.addr().to_string());
    assert_eq!(&*ev[0].upstream, "api");
}

#[tokio::test]
async fn a_pass_between_failures_resets_the_count() {
    let backend = HttpBackend::start("b3").await;
    let b = balancer(&[backend.addr()]);
    let (events, _rec) = recorder();
    let mut checker = Checker::new("api".into(), Arc::clone(&b), &http_cfg(3, 2), events);
    let state = Arc::clone(b.snapshot().endpoints()[0].state());
    for healthy in [false, false, true, false, false] {
        backend.set_healthy(healthy);
        checker.run_round().await;
        assert_eq!(state.health(), Health::Healthy);
    }
    backend.set_healthy(false);
    checker.run_round().await;
    assert_eq!(state.health(), Health::Unhealthy);
}

#[tokio::test]
async fn path_and_host_header_are_sent() {
    let recorder_backend = HeadRecorder::start().await;
    let addr = recorder_backend.addr();
    let b = balancer(&[addr]);
    let (events, _rec) = recorder();
    let mut cfg = http_cfg(1, 1);
    cfg.kind = CheckKind::Http {
        path: "/ready?deep=1".into(),
        host: Some("health.example".into()),
        expect: 200..=200,
    };
    let mut checker = Checker::new("api".into(), Arc::clone(&b), &cfg, events.clone());
    assert!(checker.run_round().await.results[0].1.is_pass());
    assert_eq!(
        recorder_backend.last_request_line().as_deref(),
        Some("GET /ready?deep=1 HTTP/1.1")
    );
    assert_eq!(
        recorder_backend.last_header("host").as_deref(),
        Some("health.example")
    );

    // Without a configured host, the server's address is sent.
    let mut checker = Checker::new("api".into(), Arc::clone(&b), &http_cfg(1, 1), events);
    checker.run_round().await;
    assert_eq!(recorder_backend.last_header("host"), Some(addr.to_string()));
}

#[tokio::test]
async fn a_status_outside_the_expected_range_fails() {
    let backend = HttpBackend::start("b4").await;
    let b = balancer(&[backend.addr()]);
    let (events, _rec) = recorder();
    let mut cfg = http_cfg(1, 1);
    cfg.kind = CheckKind::Http {
        path: "/status/204".into(),
        host: None,
        expect: 200..=200,
    };
    let mut checker = Checker::new("api".into(), Arc::clone(&b), &cfg, events);
    let report = checker.run_round().await;
    let CheckOutcome::Fail(error) = &report.results[0].1 else {
        panic!("expected a failure, got {:?}", report.results[0].1);
    };
    assert!(
        matches!(
            error.downcast_ref::<CheckError>(),
            Some(CheckError::Status(204))
        ),
        "{error:?}"
    );
    assert_eq!(
        b.snapshot().endpoints()[0].state().health(),
        Health::Unhealthy
    );
}

#[tokio::test]
async fn membership_changes_are_followed_and_kept_servers_keep_their_count() {
    let backend = HttpBackend::start("b5").await;
    let b = balancer(&[backend.addr()]);
    let (events, _rec) = recorder();
    let mut checker = Checker::new("api".into(), Arc::clone(&b), &http_cfg(3, 2), events);
    let state = Arc::clone(b.snapshot().endpoints()[0].state());

    backend.set_healthy(false);
    checker.run_round().await;
    checker.run_round().await;

    // Reload: the server stays, a dead one joins.
    let dead = closed_port();
    b.update(vec![
        Endpoint::new(backend.addr().to_string(), backend.addr()),
        Endpoint::new(dead.to_string(), dead),
    ]);
    let report = checker.run_round().await;
    assert_eq!(report.results.len(), 2);
    assert!(!report.get(&dead.to_string()).unwrap().is_pass());
    assert_eq!(
        state.health(),
        Health::Unhealthy,
        "third failure in a row across the reload"
    );
    let new_state = Arc::clone(b.snapshot().endpoints()[1].state());
    assert_eq!(
        new_state.health(),
        Health::Healthy,
        "a new server starts healthy"
    );
    checker.run_round().await;
    checker.run_round().await;
    assert_eq!(new_state.health(), Health::Unhealthy);

    // Removed servers are no longer checked.
    b.update(vec![Endpoint::new(dead.to_string(), dead)]);
    let checks = |s: &lb_balance::EndpointState| {
        s.stats.checks_ok.load(Relaxed) + s.stats.checks_failed.load(Relaxed)
    };
    let before = checks(&state);
    let report = checker.run_round().await;
    assert_eq!(report.results.len(), 1);
    assert_eq!(checks(&state), before);
}
