//! Upstream checks: servers, algorithm parameters, health, passive detection,
//! retries, TLS files; and the unused-upstream warning.

use std::collections::{BTreeMap, BTreeSet};

use super::{at_least_one, file_exists, positive};
use crate::diagnostic::{join_index, join_key, Report};
use crate::model::upstream::{Algorithm, UpstreamConfig, MAX_TABLE_SIZE, MAX_WEIGHT};
use crate::model::Config;
use crate::HealthCheckKind;

pub(super) fn check(config: &Config, partial: &super::Partial, report: &mut Report) {
    let used: BTreeSet<&str> = config
        .listeners
        .values()
        .flat_map(|l| l.upstream_names())
        .collect();
    for (name, upstream) in &config.upstreams {
        let at = join_key("upstreams", name);
        check_upstream(report, &at, upstream);
        if !used.contains(name.as_str()) && !partial.references_incomplete() {
            report.warn(&at, "unused: no route or listener sends to this upstream");
        }
    }
}

fn check_upstream(report: &mut Report, at: &str, u: &UpstreamConfig) {
    servers(report, at, u);
    if !(1..=10_000).contains(&u.vnodes) {
        report.error(join_key(at, "vnodes"), "must be from 1 to 10000");
    }
    if let Some(b) = u.bounded_load {
        let b_at = join_key(at, "bounded_load");
        if !(b.is_finite() && b > 1.0) {
            report.error(&b_at, format!("{b} must be greater than 1.0 (e.g. 1.25)"));
        } else if !matches!(u.algorithm, Algorithm::ConsistentHash | Algorithm::Maglev) {
            report.warn(
                &b_at,
                format!(
                    "ignored by algorithm {:?} (only consistent_hash and maglev use it)",
                    u.algorithm.as_str()
                ),
            );
        }
    }
    let size_at = join_key(at, "table_size");
    if !is_prime(u.table_size) || u.table_size > MAX_TABLE_SIZE {
        report.error(
            &size_at,
            format!(
                "{} must be a prime no larger than {MAX_TABLE_SIZE} (e.g. 65537)",
                u.table_size
            ),
        );
    } else if u.algorithm == Algorithm::Maglev && (u.table_size as usize) <= u.servers.len() {
        report.error(
            &size_at,
            format!(
                "{} must be larger than the number of servers ({})",
                u.table_size,
                u.servers.len()
            ),
        );
    }
    if let Some(sticky) = &u.sticky {
        let s_at = join_key(at, "sticky");
        if !crate::de::is_header_name(&sticky.cookie) {
            report.error(
                join_key(&s_at, "cookie"),
                format!("{:?} is not a valid cookie name", sticky.cookie),
            );
        }
        if let Some(max_age) = sticky.max_age {
            positive(report, &join_key(&s_at, "max_age"), max_age);
        }
    }
    positive(report, &join_key(at, "connect_timeout"), u.connect_timeout);
    positive(report, &join_key(at, "dns_refresh"), u.dns_refresh);
    if let Some(tls) = &u.tls {
        let t_at = join_key(at, "tls");
        match (&tls.cert, &tls.key) {
            (Some(_), None) => report.error(join_key(&t_at, "key"), "missing: `cert` needs `key`"),
            (None, Some(_)) => report.error(join_key(&t_at, "cert"), "missing: `key` needs `cert`"),
            _ => {}
        }
        for (key, file) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
            if let Some(file) = file {
                file_exists(report, &join_key(&t_at, key), file);
            }
        }
    }
    health(report, at, u);
}

fn servers(report: &mut Report, at: &str, u: &UpstreamConfig) {
    let servers_at = join_key(at, "servers");
    if u.servers.is_empty() {
        report.error(
            &servers_at,
            "no servers (expected at least one { addr = \"host:port\" })",
        );
        return;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in u.servers.iter().enumerate() {
        let s_at = join_index(&servers_at, i);
        if let Some(first) = seen.insert(s.addr.to_string(), i) {
            seen.insert(s.addr.to_string(), first);
            report.error(
                join_key(&s_at, "addr"),
                format!(
                    "\"{}\" is already servers[{first}] (addresses must be unique)",
                    s.addr
                ),
            );
        }
        if !(1..=MAX_WEIGHT).contains(&s.weight) {
            report.error(
                join_key(&s_at, "weight"),
                format!("{} must be from 1 to {MAX_WEIGHT}", s.weight),
            );
        }
    }
    if u.servers.iter().all(|s| s.backup) {
        report.error(
            &servers_at,
            "every server is a backup (expected at least one primary)",
        );
    }
}

fn health(report: &mut Report, at: &str, u: &UpstreamConfig) {
    if let Some(h) = &u.health {
        let h_at = join_key(at, "health");
        if h.check == HealthCheckKind::Http && !h.path.starts_with('/') {
            report.error(
                join_key(&h_at, "path"),
                format!("{:?} does not start with '/'", h.path),
            );
        }
        positive(report, &join_key(&h_at, "interval"), h.interval);
        positive(report, &join_key(&h_at, "timeout"), h.timeout);
        at_least_one(
            report,
            &join_key(&h_at, "unhealthy_threshold"),
            h.unhealthy_threshold.into(),
        );
        at_least_one(
            report,
            &join_key(&h_at, "healthy_threshold"),
            h.healthy_threshold.into(),
        );
    }
    let p = &u.passive;
    let p_at = join_key(at, "passive");
    at_least_one(
        report,
        &join_key(&p_at, "consecutive_failures"),
        p.consecutive_failures.into(),
    );
    if let Some(rate) = p.failure_rate {
        if !(rate > 0.0 && rate <= 1.0) {
            report.error(
                join_key(&p_at, "failure_rate"),
                format!("{rate} must be greater than 0 and at most 1"),
            );
        }
    }
    positive(report, &join_key(&p_at, "failure_window"), p.failure_window);
    at_least_one(
        report,
        &join_key(&p_at, "min_requests"),
        p.min_requests.into(),
    );
    positive(report, &join_key(&p_at, "ejection_time"), p.ejection_time);
    if p.max_ejected_percent > 100 {
        report.error(
            join_key(&p_at, "max_ejected_percent"),
            format!("{} must be from 0 to 100", p.max_ejected_percent),
        );
    }
    let budget = u.retry.budget;
    if !(budget.is_finite() && budget >= 0.0) {
        report.error(
            join_key(&join_key(at, "retry"), "budget"),
            format!("{budget} must be 0 or more (e.g. 0.2)"),
        );
    }
}

/// Trial division; fine for table sizes up to about a million.
fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn primes() {
        let small: Vec<u32> = (0..30).filter(|&n| super::is_prime(n)).collect();
        assert_eq!(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(super::is_prime(65_537) && super::is_prime(super::MAX_TABLE_SIZE));
        assert!(!super::is_prime(65_536));
    }
}
