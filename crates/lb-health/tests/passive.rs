//! Passive outlier detection through `PassiveHealthLayer` in front of real
//! HTTP backends.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use lb_balance::{Algorithm, Balancer, Endpoint, Health, PickRequest};
use lb_health::passive::{FailureKind, Outcome};
use lb_health::{OutlierDetector, PassiveConfig, PassiveHealthLayer, Reason};
use support::{closed_port, recorder, trace_init, HttpBackend};
use tower::{Layer, Service, ServiceExt};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
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

fn passive(consecutive: u32, ejection: Duration, max_pct: u32) -> PassiveConfig {
    let mut cfg = PassiveConfig::default();
    cfg.consecutive_failures = consecutive;
    cfg.ejection_time = ejection;
    cfg.max_ejected_percent = max_pct;
    cfg
}

/// An endpoint's service: GET / on that server, behind the passive layer.
fn endpoint_service(
    client: &HttpClient,
    detector: &OutlierDetector<SocketAddr>,
    endpoint: &Endpoint<SocketAddr>,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = hyper_util::client::legacy::Error,
> + Clone {
    let client = client.clone();
    let inner = tower::service_fn(move |req| client.request(req));
    PassiveHealthLayer::new(detector.clone(), endpoint.clone()).layer(inner)
}

#[allow(clippy::unwrap_used)] // a test helper: a bad request is a bug in the test
async fn get<S>(svc: &mut S, addr: SocketAddr) -> Result<u16, hyper_util::client::legacy::Error>
where
    S: Service<
        Request<Empty<Bytes>>,
        Response = http::Response<hyper::body::Incoming>,
        Error = hyper_util::client::legacy::Error,
    >,
{
    let req = Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap();
    let resp = svc.ready().await?.call(req).await?;
    Ok(resp.status().as_u16())
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Paused time; no timer is armed while the test waits on sockets, so the
/// clock only moves through `advance`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_502_server_is_ejected_returns_and_is_ejected_longer_next_time() {
    trace_init();
    let bad = HttpBackend::start("b1").await;
    bad.set_status(502);
    let good = HttpBackend::start("b2").await;
    let b = balancer(&[bad.addr(), good.addr()]);
    let (events, mut rec) = recorder();
    let ejection = Duration::from_secs(30);
    let detector = OutlierDetector::new(
        "api".into(),
        Arc::clone(&b),
        passive(3, ejection, 50),
        events,
    );
    let snap = b.snapshot();
    let endpoint = &snap.endpoints()[0];
    let state = Arc::clone(endpoint.state());
    let client = client();
    let mut svc = endpoint_service(&client, &detector, endpoint);

    for round in 1..=2u64 {
        for n in 1..=3 {
            assert_eq!(get(&mut svc, bad.addr()).await.unwrap(), 502);
            let want = if n < 3 {
                Health::Healthy
            } else {
                Health::Ejected
            };
            assert_eq!(state.health(), want, "round {round}, after {n} failures");
        }
        let ev = rec.rx.try_recv().unwrap();
        assert_eq!(
            (ev.from, ev.to, ev.reason),
            (
                Health::Healthy,
                Health::Ejected,
                Reason::ConsecutiveFailures
            )
        );
        assert_eq!(&*ev.server, bad.addr().to_string());
        assert_eq!(state.stats.ejections.load(Relaxed), round);
        // Ejected: picks go to the good server only.
        for _ in 0..4 {
            assert_eq!(
                *b.pick(&PickRequest::default()).unwrap().value(),
                good.addr()
            );
        }

        // The n-th ejection lasts n × ejection_time.
        let lasts = ejection * round as u32;
        tokio::time::advance(lasts - Duration::from_millis(1)).await;
        settle().await;
        assert_eq!(
            state.health(),
            Health::Ejected,
            "round {round}: before the ejection ends"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        let ev = tokio::time::timeout(Duration::from_secs(1), rec.rx.recv())
            .await
            .expect("the server returns")
            .unwrap();
        assert_eq!(
            (ev.from, ev.to, ev.reason),
            (Health::Ejected, Health::Healthy, Reason::EjectionExpired)
        );
        assert_eq!(state.health(), Health::Healthy);
    }
    assert_eq!(state.stats.failures.load(Relaxed), 6);
}

/// Real time, with an ejection time no test run reaches.
#[tokio::test]
async fn max_ejected_percent_holds() {
    let backends = [
        HttpBackend::start("b3").await,
        HttpBackend::start("b4").await,
        HttpBackend::start("b5").await,
        HttpBackend::start("b6").await,
    ];
    for backend in &backends {
        backend.set_status(503);
    }
    let addrs: Vec<SocketAddr> = backends.iter().map(HttpBackend::addr).collect();
    let b = balancer(&addrs);
    let (events, rec) = recorder();
    let detector = OutlierDetector::new(
        "api".into(),
        Arc::clone(&b),
        passive(2, Duration::from_secs(3600), 50),
        events,
    );
    let client = client();
    let snap = b.snapshot();
    for (endpoint, addr) in snap.endpoints().iter().zip(&addrs) {
        let mut svc = endpoint_service(&client, &detector, endpoint);
        for _ in 0..4 {
            assert_eq!(get(&mut svc, *addr).await.unwrap(), 503);
        }
    }
    let health: Vec<Health> = snap
        .endpoints()
        .iter()
        .map(|e| e.state().health())
        .collect();
    assert_eq!(
        health,
        [
            Health::Ejected,
            Health::Ejected,
            Health::Healthy,
            Health::Healthy
        ]
    );
    let ejections: u64 = snap
        .endpoints()
        .iter()
        .map(|e| e.state().stats.ejections.load(Relaxed))
        .sum();
    assert_eq!(ejections, 2);
    assert_eq!(rec.all().len(), 2);
}

#[tokio::test]
async fn connect_errors_count_and_successes_reset_the_streak() {
    let good = HttpBackend::start("b7").await;
    let dead = closed_port();
    let b = balancer(&[dead, good.addr()]);
    let (events, _rec) = recorder();
    let detector = OutlierDetector::new(
        "api".into(),
        Arc::clone(&b),
        passive(3, Duration::from_secs(3600), 50),
        events,
    );
    let client = client();
    let snap = b.snapshot();
    let mut dead_svc = endpoint_service(&client, &detector, &snap.endpoints()[0]);
    let mut good_svc = endpoint_service(&client, &detector, &snap.endpoints()[1]);
    let good_state = snap.endpoints()[1].state();

    // A success in between resets the streak of the good server.
    for status in [500, 500, 200, 500, 500] {
        good.set_status(status);
        assert_eq!(get(&mut good_svc, good.addr()).await.unwrap(), status);
    }
    assert_eq!(good_state.health(), Health::Healthy);
    assert_eq!(good_state.stats.consecutive_failures.load(Relaxed), 2);

    let dead_state = snap.endpoints()[0].state();
    for _ in 0..3 {
        let err = get(&mut dead_svc, dead).await.unwrap_err();
        assert!(err.is_connect());
    }
    assert_eq!(dead_state.health(), Health::Ejected);
    assert_eq!(dead_state.stats.failures.load(Relaxed), 3);
}

#[tokio::test]
async fn failure_rate_ejects_without_a_streak() {
    let b = balancer(&[closed_port(), closed_port()]);
    let (events, rec) = recorder();
    let mut cfg = passive(0, Duration::from_secs(3600), 50);
    cfg.failure_rate = Some(0.5);
    cfg.min_requests = 10;
    let detector = OutlierDetector::new("api".into(), Arc::clone(&b), cfg, events);
    let snap = b.snapshot();
    let endpoint = &snap.endpoints()[0];
    let fail = Outcome::Failure(FailureKind::Status5xx);
    // fail, fail, ok, repeated: 2/3 failed, never 3 in a row.
    let pattern = [fail, fail, Outcome::Success];
    for (n, outcome) in pattern.iter().cycle().take(9).enumerate() {
        detector.observe(endpoint, *outcome);
        assert_eq!(
            endpoint.state().health(),
            Health::Healthy,
            "below min_requests after {}",
            n + 1
        );
    }
    // The 10th request is a failure: 7 of 10 failed.
    detector.observe_state(endpoint.state(), fail);
    assert_eq!(endpoint.state().health(), Health::Ejected);
    assert_eq!(rec.all()[0].reason, Reason::FailureRate);
    assert_eq!(&*rec.all()[0].server, &**endpoint.id());
}

#[tokio::test]
async fn a_lone_server_is_never_ejected_at_50_percent() {
    let b = balancer(&[closed_port()]);
    let (events, rec) = recorder();
    let detector = OutlierDetector::new(
        "api".into(),
        Arc::clone(&b),
        passive(1, Duration::from_secs(3600), 50),
        events,
    );
    let snap = b.snapshot();
    for _ in 0..5 {
        detector.observe(&snap.endpoints()[0], Outcome::Failure(FailureKind::Reset));
    }
    assert_eq!(snap.endpoints()[0].state().health(), Health::Healthy);
    assert!(rec.all().is_empty());
}

/// Paused time, no sockets: the n-th ejection lasts n × ejection_time up to
/// 10×, and a clean spell of 10 × ejection_time resets the count.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ejection_time_grows_to_ten_times_and_resets_after_a_clean_spell() {
    let b = balancer(&[closed_port(), closed_port()]);
    let (events, mut rec) = recorder();
    let base = Duration::from_secs(1);
    let detector = OutlierDetector::new("api".into(), Arc::clone(&b), passive(1, base, 50), events);
    let snap = b.snapshot();
    let endpoint = &snap.endpoints()[0];

    let mut eject_and_measure = async || {
        detector.observe(endpoint, Outcome::Failure(FailureKind::Timeout));
        assert_eq!(endpoint.state().health(), Health::Ejected);
        let ejected = rec.rx.recv().await.unwrap();
        assert_eq!(ejected.to, Health::Ejected);
        let start = tokio::time::Instant::now();
        let back = tokio::time::timeout(Duration::from_secs(3600), rec.rx.recv())
            .await
            .expect("the server returns")
            .unwrap();
        assert_eq!(back.reason, Reason::EjectionExpired);
        tokio::time::Instant::now() - start
    };
    for n in 1..=12u32 {
        assert_eq!(eject_and_measure().await, base * n.min(10), "ejection #{n}");
    }
    // Just short of a clean spell: the count is kept.
    tokio::time::advance(base * 10 - Duration::from_millis(1)).await;
    assert_eq!(eject_and_measure().await, base * 10);
    // A full clean spell: back to 1×.
    tokio::time::advance(base * 10).await;
    assert_eq!(eject_and_measure().await, base);
}

/// `ErrorsOnly` in front of a connector service (what an L4 proxy has):
/// refused connects eject the server.
#[tokio::test]
async fn errors_only_classifies_a_connector() {
    let dead = closed_port();
    let b = balancer(&[dead, closed_port()]);
    let (events, _rec) = recorder();
    let detector = OutlierDetector::new(
        "db".into(),
        Arc::clone(&b),
        passive(2, Duration::from_secs(3600), 50),
        events,
    );
    let snap = b.snapshot();
    let connect = tower::service_fn(|addr: SocketAddr| tokio::net::TcpStream::connect(addr));
    let mut svc = PassiveHealthLayer::new(detector, snap.endpoints()[0].clone())
        .with_classify(lb_health::passive::ErrorsOnly)
        .layer(connect);
    for _ in 0..2 {
        let err = svc.ready().await.unwrap().call(dead).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    }
    assert_eq!(snap.endpoints()[0].state().health(), Health::Ejected);
}
