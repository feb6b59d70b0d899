//! TCP and gRPC probes, timeouts, and the spawned checker task.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use lb_balance::{Algorithm, Balancer, Endpoint, Health};
use lb_health::active::{CheckError, CheckOutcome};
use lb_health::{spawn_active, ActiveConfig, CheckKind, Checker};
use support::{closed_port, recorder, trace_init, GrpcBackend, HttpBackend, SilentBackend};
use tokio::net::TcpListener;

fn cfg(kind: CheckKind, unhealthy: u32, healthy: u32) -> ActiveConfig {
    let mut cfg = ActiveConfig::new(kind);
    cfg.unhealthy_threshold = unhealthy;
    cfg.healthy_threshold = healthy;
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

fn failure(outcome: &CheckOutcome) -> &CheckError {
    match outcome {
        CheckOutcome::Fail(e) => match e.downcast_ref::<CheckError>() {
            Some(e) => e,
            None => panic!("expected a CheckError, got {e:?}"),
        },
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn tcp_check_fails_once_the_listener_is_closed() {
    trace_init();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b = balancer(&[addr]);
    let (events, _rec) = recorder();
    let mut checker = Checker::new(
        "db".into(),
        Arc::clone(&b),
        &cfg(CheckKind::Tcp, 2, 1),
        events,
    );
    let state = Arc::clone(b.snapshot().endpoints()[0].state());

    assert!(checker.run_round().await.results[0].1.is_pass());
    drop(listener);
    let report = checker.run_round().await;
    assert!(matches!(
        failure(&report.results[0].1),
        CheckError::Connect(_)
    ));
    assert_eq!(state.health(), Health::Healthy);
    checker.run_round().await;
    assert_eq!(state.health(), Health::Unhealthy);
}

#[tokio::test]
async fn grpc_check_passes_only_when_serving() {
    let backend = GrpcBackend::start("lb.Test").await;
    let b = balancer(&[backend.addr()]);
    let (events, _rec) = recorder();
    let kind = CheckKind::Grpc {
        service: "lb.Test".into(),
    };
    let mut checker = Checker::new(
        "grpc".into(),
        Arc::clone(&b),
        &cfg(kind, 1, 1),
        events.clone(),
    );
    let state = Arc::clone(b.snapshot().endpoints()[0].state());

    assert!(checker.run_round().await.results[0].1.is_pass());
    assert_eq!(state.health(), Health::Healthy);

    backend.set_status(2); // NOT_SERVING
    let report = checker.run_round().await;
    assert!(matches!(
        failure(&report.results[0].1),
        CheckError::NotServing(2)
    ));
    assert_eq!(state.health(), Health::Unhealthy);

    backend.set_status(1);
    checker.run_round().await;
    assert_eq!(state.health(), Health::Healthy);

    // The service name reaches the server: another name is unknown there.
    let kind = CheckKind::Grpc {
        service: "other".into(),
    };
    let mut checker = Checker::new("grpc".into(), Arc::clone(&b), &cfg(kind, 1, 1), events);
    let report = checker.run_round().await;
    assert!(matches!(
        failure(&report.results[0].1),
        CheckError::NotServing(3)
    ));
}

#[tokio::test]
async fn grpc_check_against_a_server_without_grpc_health_fails() {
    let backend = HttpBackend::start("b1").await;
    let b = balancer(&[backend.addr()]);
    let (events, _rec) = recorder();
    let kind = CheckKind::Grpc {
        service: String::new(),
    };
    let mut checker = Checker::new("grpc".into(), Arc::clone(&b), &cfg(kind, 1, 1), events);
    assert!(!checker.run_round().await.results[0].1.is_pass());
    assert_eq!(
        b.snapshot().endpoints()[0].state().health(),
        Health::Unhealthy
    );
}

/// Paused time: the runtime auto-advances to the check timeout while the
/// backend holds the connection without answering.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timeouts_count_as_failures() {
    let silent = SilentBackend::start().await;
    let b = balancer(&[silent.addr()]);
    let (events, _rec) = recorder();
    let mut c = cfg(CheckKind::default(), 2, 1);
    c.timeout = Duration::from_secs(2);
    let mut checker = Checker::new("api".into(), Arc::clone(&b), &c, events);
    let state = Arc::clone(b.snapshot().endpoints()[0].state());

    let started = tokio::time::Instant::now();
    let report = checker.run_round().await;
    assert!(
        matches!(report.results[0].1, CheckOutcome::Timeout),
        "{report:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(state.health(), Health::Healthy);
    let report = checker.run_round().await;
    assert!(matches!(report.results[0].1, CheckOutcome::Timeout));
    assert_eq!(state.health(), Health::Unhealthy);
    assert_eq!(state.stats.checks_failed.load(Relaxed), 2);
}

/// The spawned task checks every interval, emits events, and stops when its
/// handle is dropped.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn spawned_checker_runs_on_its_interval_and_stops_on_drop() {
    let dead = closed_port();
    let b = balancer(&[dead]);
    let (events, mut rec) = recorder();
    let mut c = cfg(CheckKind::Tcp, 3, 1);
    c.interval = Duration::from_secs(5);
    c.timeout = Duration::from_secs(1);
    let handle = spawn_active("db".into(), Arc::clone(&b), c, events);
    let state = Arc::clone(b.snapshot().endpoints()[0].state());

    let event = tokio::time::timeout(Duration::from_secs(60), rec.rx.recv())
        .await
        .expect("an event within 60s")
        .unwrap();
    assert_eq!((event.from, event.to), (Health::Healthy, Health::Unhealthy));
    assert_eq!(state.stats.checks_failed.load(Relaxed), 3);

    drop(handle);
    tokio::time::advance(Duration::from_secs(60)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        state.stats.checks_failed.load(Relaxed),
        3,
        "no checks after drop"
    );
}
