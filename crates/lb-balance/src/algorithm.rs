//! The algorithm names of the configuration and their per-snapshot tables.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::Ordering::Relaxed;

use crate::balancer::{Balancer, PickRequest, Snapshot};
use crate::endpoint::Endpoint;

/// A balancing algorithm and its parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// Smooth weighted round robin (nginx's).
    RoundRobin,
    /// Fewest in-flight divided by weight; ties rotate.
    LeastConn,
    /// Weighted random.
    Random,
    /// Power of two weighted-random choices, the less loaded wins.
    P2c,
    /// p2c on peak-EWMA latency × (in-flight + 1).
    PeakEwma,
    /// The client address picks the server; an unavailable one passes the key on.
    IpHash,
    /// A ring of `vnodes × weight` points per server.
    ConsistentHash {
        /// Ring points per unit of weight.
        vnodes: u32,
        /// No server above `c ×` the average load, if set.
        bounded_load: Option<f64>,
    },
    /// Maglev lookup table.
    Maglev {
        /// Table size; must be prime (default 65537).
        table_size: u32,
        /// No server above `c ×` the average load, if set.
        bounded_load: Option<f64>,
    },
}

/// The default Maglev table size.
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65537;
/// The default ring points per unit of weight.
pub const DEFAULT_VNODES: u32 = 160;

/// The names accepted by [`Algorithm::from_str`], as in the configuration.
pub const ALGORITHM_NAMES: &[&str] = &[
    "round_robin",
    "least_conn",
    "random",
    "p2c",
    "peak_ewma",
    "ip_hash",
    "consistent_hash",
    "maglev",
];

/// An unknown algorithm name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown algorithm {0:?} (expected one of {names})", names = ALGORITHM_NAMES.join(", "))]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "round_robin" => Algorithm::RoundRobin,
            "least_conn" => Algorithm::LeastConn,
            "random" => Algorithm::Random,
            "p2c" => Algorithm::P2c,
            "peak_ewma" => Algorithm::PeakEwma,
            "ip_hash" => Algorithm::IpHash,
            "consistent_hash" => Algorithm::ConsistentHash {
                vnodes: DEFAULT_VNODES,
                bounded_load: None,
            },
            "maglev" => Algorithm::Maglev {
                table_size: DEFAULT_MAGLEV_TABLE_SIZE,
                bounded_load: None,
            },
            other => return Err(UnknownAlgorithm(other.to_owned())),
        })
    }
}

impl Algorithm {
    /// The configuration name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::LeastConn => "least_conn",
            Algorithm::Random => "random",
            Algorithm::P2c => "p2c",
            Algorithm::PeakEwma => "peak_ewma",
            Algorithm::IpHash => "ip_hash",
            Algorithm::ConsistentHash { .. } => "consistent_hash",
            Algorithm::Maglev { .. } => "maglev",
        }
    }

    /// Whether the algorithm uses the request's hash key.
    #[must_use]
    pub fn uses_key(&self) -> bool {
        matches!(
            self,
            Algorithm::IpHash | Algorithm::ConsistentHash { .. } | Algorithm::Maglev { .. }
        )
    }

    pub(crate) fn build<T>(&self, endpoints: &[Endpoint<T>]) -> Table {
        Table {
            rr: crate::round_robin::Sequence::build(endpoints),
        }
    }

    pub(crate) fn pick<T: Clone>(
        &self,
        balancer: &Balancer<T>,
        snap: &Snapshot<T>,
        req: &PickRequest<'_>,
    ) -> Option<usize> {
        // TODO(lb-balance): every algorithm; round robin stands in for now.
        let n = balancer.cursor.fetch_add(1, Relaxed);
        snap.table.rr.pick(&snap.endpoints, n, req.exclude)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Precomputed per-snapshot tables.
#[derive(Debug)]
pub(crate) struct Table {
    rr: crate::round_robin::Sequence,
}
