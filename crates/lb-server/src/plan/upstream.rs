//! `[upstreams.NAME]` → balancer algorithm, server specs, L7 upstream
//! options, active and passive health settings.

use std::sync::Arc;
use std::time::Duration;

use lb_balance::Algorithm;
use lb_config::{HashKey, HealthCheckKind, RetryOn, UpstreamConfig, UpstreamProtocol};
use lb_health::active::{ActiveConfig, CheckKind};
use lb_health::passive::PassiveConfig;
use lb_l7::{RetryPolicy, StickyOptions, UpstreamOptions, UpstreamTls};

use super::UpstreamPlan;
use crate::dns::{Host, ServerSpec};

/// Build one upstream's plan; errors are `key: message` relative to it.
pub(super) fn plan(name: &str, u: &UpstreamConfig) -> Result<UpstreamPlan, String> {
    let servers = u
        .servers
        .iter()
        .map(|s| ServerSpec {
            host: match s.addr.ip() {
                Some(ip) => Host::Ip(ip),
                None => Host::Name(s.addr.host.clone()),
            },
            port: s.addr.port,
            weight: s.weight.max(1),
            backup: s.backup,
        })
        .collect();
    let l7 = l7_options(u)?;
    // Everything the pool depends on; health settings are not part of it.
    let l7_key = format!(
        "{:?}",
        (
            &u.protocol,
            u.connect_timeout,
            &u.tls,
            &u.hash_key,
            &u.sticky,
            &u.retry,
            u.max_connections_per_server
        )
    );
    Ok(UpstreamPlan {
        name: Arc::from(name),
        algorithm: algorithm(u),
        servers,
        dns_refresh: u.dns_refresh,
        max_per_server: u32::try_from(u.max_connections_per_server).unwrap_or(u32::MAX),
        l7,
        l7_key,
        active: u.health.as_ref().map(active),
        passive: passive(&u.passive),
    })
}

/// The balancing algorithm with its parameters.
pub(crate) fn algorithm(u: &UpstreamConfig) -> Algorithm {
    match u.algorithm {
        lb_config::Algorithm::RoundRobin => Algorithm::RoundRobin,
        lb_config::Algorithm::LeastConn => Algorithm::LeastConn,
        lb_config::Algorithm::Random => Algorithm::Random,
        lb_config::Algorithm::P2c => Algorithm::P2c,
        lb_config::Algorithm::PeakEwma => Algorithm::PeakEwma,
        lb_config::Algorithm::IpHash => Algorithm::IpHash,
        lb_config::Algorithm::ConsistentHash => Algorithm::ConsistentHash {
            vnodes: u.vnodes,
            bounded_load: u.bounded_load,
        },
        lb_config::Algorithm::Maglev => Algorithm::Maglev {
            table_size: u.table_size,
            bounded_load: u.bounded_load,
        },
    }
}

fn l7_options(u: &UpstreamConfig) -> Result<UpstreamOptions, String> {
    let mut o = UpstreamOptions::default();
    o.protocol = match u.protocol {
        UpstreamProtocol::Http2 => lb_l7::UpstreamProtocol::Http2,
        _ => lb_l7::UpstreamProtocol::Http1,
    };
    o.connect_timeout = u.connect_timeout;
    o.hash_key = hash_key(&u.hash_key)?;
    o.sticky = u
        .sticky
        .as_ref()
        .map(|s| StickyOptions::new(s.cookie.clone(), s.max_age.unwrap_or(Duration::ZERO)));
    let mut retry = RetryPolicy::default();
    retry.attempts = u.retry.attempts;
    retry.on_connect_failure = u.retry.on.contains(&RetryOn::ConnectFailure);
    retry.on_reset = u.retry.on.contains(&RetryOn::Reset);
    retry.on_timeout = u.retry.on.contains(&RetryOn::Timeout);
    retry.on_5xx = u.retry.on.contains(&RetryOn::ServerError);
    retry.budget = u.retry.budget;
    o.retry = retry;
    o.max_connections_per_server = u32::try_from(u.max_connections_per_server).unwrap_or(u32::MAX);
    if let Some(tls) = &u.tls {
        let client_cert = match (&tls.cert, &tls.key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        };
        let h2 = o.protocol == lb_l7::UpstreamProtocol::Http2;
        let config = lb_l7::tls::client_config(tls.ca.as_deref(), client_cert, h2)
            .map_err(|e| format!("tls: {e}"))?;
        let server_name = match &tls.server_name {
            Some(n) => n.clone(),
            None => u
                .servers
                .first()
                .map(|s| s.addr.host.clone())
                .unwrap_or_default(),
        };
        o.tls = Some(
            UpstreamTls::new(&server_name, config).map_err(|e| format!("tls.server_name: {e}"))?,
        );
    }
    Ok(o)
}

fn hash_key(k: &HashKey) -> Result<lb_l7::HashKey, String> {
    Ok(match k {
        HashKey::ClientIp => lb_l7::HashKey::ClientIp,
        HashKey::Header(name) => lb_l7::HashKey::Header(
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("hash_key: {name:?} is not a valid header name"))?,
        ),
        HashKey::Cookie(name) => lb_l7::HashKey::Cookie(name.clone()),
        HashKey::Query(name) => lb_l7::HashKey::Query(name.clone()),
        HashKey::Path => lb_l7::HashKey::Path,
    })
}

fn active(h: &lb_config::HealthConfig) -> ActiveConfig {
    let kind = match h.check {
        HealthCheckKind::Tcp => CheckKind::Tcp,
        HealthCheckKind::Grpc => CheckKind::Grpc {
            service: String::new(),
        },
        _ => CheckKind::Http {
            path: h.path.clone(),
            host: h.host.clone(),
            expect: h.expect_status.min..=h.expect_status.max,
        },
    };
    let mut cfg = ActiveConfig::new(kind);
    cfg.interval = h.interval;
    cfg.timeout = h.timeout;
    cfg.unhealthy_threshold = h.unhealthy_threshold;
    cfg.healthy_threshold = h.healthy_threshold;
    cfg
}

fn passive(p: &lb_config::PassiveConfig) -> PassiveConfig {
    let mut cfg = PassiveConfig::default();
    cfg.consecutive_failures = p.consecutive_failures;
    cfg.failure_rate = p.failure_rate;
    cfg.failure_window = p.failure_window;
    cfg.min_requests = p.min_requests;
    cfg.ejection_time = p.ejection_time;
    cfg.max_ejected_percent = p.max_ejected_percent;
    cfg
}
