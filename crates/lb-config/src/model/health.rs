//! `[upstreams.NAME.health]`, `.passive` and `.retry`: deciding which servers
//! get traffic, and what happens when one fails.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::de::{self, string_enum};

/// Active health checks. Absent = none: servers are healthy unless passive
/// detection ejects them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// The kind of check. Default `http`.
    pub check: HealthCheckKind,
    /// http: the path requested with `GET`. Default `/`.
    pub path: String,
    /// http: the statuses that count as healthy, `"200-399"` or `"200"`.
    /// Default `200-399`.
    pub expect_status: StatusRange,
    /// http/grpc: the `Host` (`:authority`) sent. Default: the server's
    /// `host:port`.
    pub host: Option<String>,
    /// Time between checks of one server. Default 10 s.
    #[serde(deserialize_with = "de::duration")]
    pub interval: Duration,
    /// One check fails if it takes longer. Default 3 s.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Consecutive failures before a server leaves the pool (≥ 1). Default 3.
    pub unhealthy_threshold: u32,
    /// Consecutive successes before it comes back (≥ 1). Default 2.
    pub healthy_threshold: u32,
}

string_enum! {
    /// `check`: how a server is probed.
    #[derive(Default)]
    pub enum HealthCheckKind {
        /// `GET path`; healthy when the status is in `expect_status`.
        #[default]
        Http => "http",
        /// A TCP connect.
        Tcp => "tcp",
        /// `grpc.health.v1.Health/Check` (overall server health) over HTTP/2;
        /// healthy when the answer is `SERVING`.
        Grpc => "grpc",
    }
}

/// An inclusive range of HTTP status codes, written `"200-399"` or `"204"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    /// Lowest accepted status, 100-599.
    pub min: u16,
    /// Highest accepted status, `min`-599.
    pub max: u16,
}

/// Passive outlier detection, from the outcomes of real traffic. Absent = the
/// defaults below. Set `max_ejected_percent = 0` to never eject.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveConfig {
    /// Failures (5xx, connect error, reset, timeout) in a row that eject a
    /// server (≥ 1). Default 5.
    pub consecutive_failures: u32,
    /// Also eject when more than this share (0 < rate ≤ 1) of the requests
    /// in `failure_window` failed. Default none.
    pub failure_rate: Option<f64>,
    /// The sliding window `failure_rate` looks at. Default 10 s.
    #[serde(deserialize_with = "de::duration")]
    pub failure_window: Duration,
    /// `failure_rate` applies only with at least this many requests in the
    /// window (≥ 1). Default 20.
    pub min_requests: u32,
    /// Base ejection time, multiplied by the number of times the server was
    /// ejected (reset after a clean spell), up to 10×. Default 30 s.
    #[serde(deserialize_with = "de::duration")]
    pub ejection_time: Duration,
    /// Never eject more than this percentage of the servers (0-100).
    /// Default 50.
    pub max_ejected_percent: u32,
}

/// Retries. Absent = the defaults below.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Extra tries, each on a different server; `0` = no retries. Default 2.
    pub attempts: u32,
    /// Which failures are retried. Default `["connect_failure", "reset"]`.
    #[serde(deserialize_with = "retry_on")]
    pub on: Vec<RetryOn>,
    /// Retries add at most this share (≥ 0) to the request rate over the last
    /// 10 s (3 retries per second are always allowed). Default 0.2.
    pub budget: f64,
}

string_enum! {
    /// An entry of `retry.on`.
    pub enum RetryOn {
        /// The connection to the server could not be made.
        ConnectFailure => "connect_failure",
        /// The connection was reset before a response head arrived.
        Reset => "reset",
        /// The route timeout elapsed before a response head arrived.
        Timeout => "timeout",
        /// The server answered with a 5xx status.
        ServerError => "5xx",
    }
}

fn retry_on<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RetryOn>, D::Error> {
    de::string_list(d)?
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

// === impl HealthConfig ===

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            check: HealthCheckKind::Http,
            path: "/".to_owned(),
            expect_status: StatusRange { min: 200, max: 399 },
            host: None,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(3),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
        }
    }
}

// === impl StatusRange ===

impl StatusRange {
    /// Whether `status` is in the range.
    pub fn contains(&self, status: u16) -> bool {
        (self.min..=self.max).contains(&status)
    }
}

impl FromStr for StatusRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("{s:?} is not a status range (expected \"200-399\" or \"200\", within 100-599)")
        };
        let (lo, hi) = s.split_once('-').unwrap_or((s, s));
        let min: u16 = lo.trim().parse().map_err(|_| bad())?;
        let max: u16 = hi.trim().parse().map_err(|_| bad())?;
        if !(100..=599).contains(&min) || !(min..=599).contains(&max) {
            return Err(bad());
        }
        Ok(Self { min, max })
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// === impl PassiveConfig ===

impl Default for PassiveConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: None,
            failure_window: Duration::from_secs(10),
            min_requests: 20,
            ejection_time: Duration::from_secs(30),
            max_ejected_percent: 50,
        }
    }
}

// === impl RetryConfig ===

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 2,
            on: vec![RetryOn::ConnectFailure, RetryOn::Reset],
            budget: 0.2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        let r: StatusRange = "200-399".parse().unwrap();
        assert_eq!((r.min, r.max), (200, 399));
        assert!(r.contains(302) && !r.contains(404));
        assert_eq!(r.to_string(), "200-399");
        assert_eq!("204".parse::<StatusRange>().unwrap().to_string(), "204");
        for bad in ["", "2xx", "399-200", "99-200", "200-600", "200-"] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad}");
        }
    }
}
