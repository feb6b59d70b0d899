//! [`Algorithm`]: the algorithm names of the configuration, their
//! parameters and validation, and the dispatch of a pick to the algorithm's
//! module.

use crate::endpoint::Endpoint;
use crate::table::{Ctx, Extra, Table, Tier};
use crate::{consistent_hash, ip_hash, least_conn, maglev, p2c, peak_ewma, random, round_robin};
use std::fmt;
use std::str::FromStr;

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

    /// Check the parameters: `vnodes` in `1..=`[`MAX_VNODES`], a Maglev
    /// `table_size` that is a prime in `2..=`[`MAX_MAGLEV_TABLE_SIZE`], and a
    /// `bounded_load` that is a finite number `>= 1.0`.
    ///
    /// [`Balancer::new`](crate::Balancer::new) never fails: given invalid
    /// parameters it clamps `vnodes`, rounds the table size up to the next
    /// prime and ignores a bad bound. Validate the configuration first, or use
    /// [`Balancer::try_new`](crate::Balancer::try_new).
    ///
    /// # Errors
    ///
    /// A message naming the parameter, what it was and what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        let check_bound = |bound: &Option<f64>| match bound {
            Some(c) if !(c.is_finite() && *c >= 1.0) => Err(format!(
                "bounded_load must be a number >= 1.0 (e.g. 1.25), got {c}"
            )),
            _ => Ok(()),
        };
        match self {
            Algorithm::ConsistentHash {
                vnodes,
                bounded_load,
            } => {
                if !(1..=MAX_VNODES).contains(vnodes) {
                    return Err(format!(
                        "vnodes must be between 1 and {MAX_VNODES}, got {vnodes}"
                    ));
                }
                check_bound(bounded_load)
            }
            Algorithm::Maglev {
                table_size,
                bounded_load,
            } => {
                if !is_prime(*table_size) || *table_size > MAX_MAGLEV_TABLE_SIZE {
                    return Err(format!(
                        "maglev table size must be a prime number up to \
                         {MAX_MAGLEV_TABLE_SIZE} (e.g. {DEFAULT_MAGLEV_TABLE_SIZE}), got {table_size}"
                    ));
                }
                check_bound(bounded_load)
            }
            _ => Ok(()),
        }
    }

    /// The load bound `c`, if set and valid.
    fn bound(&self) -> Option<f64> {
        match self {
            Algorithm::ConsistentHash { bounded_load, .. }
            | Algorithm::Maglev { bounded_load, .. } => {
                bounded_load.filter(|c| c.is_finite() && *c >= 1.0)
            }
            _ => None,
        }
    }

    /// Build the tables of a snapshot (off the request path).
    pub(crate) fn build<T>(&self, endpoints: &[Endpoint<T>]) -> Table {
        Table::build(self, endpoints)
    }

    /// Pick an index into the snapshot's endpoints: a pickable primary if
    /// there is one, else a pickable backup.
    #[inline]
    pub(crate) fn pick(&self, table: &Table, ctx: &Ctx<'_>, key: Option<u64>) -> Option<usize> {
        [&table.primary, &table.backup]
            .into_iter()
            .filter(|tier| tier.len() > 0)
            .find_map(|tier| {
                let pos = self.pick_in(tier, ctx, key)?;
                tier.index.get(pos).map(|&i| i as usize)
            })
    }

    #[inline]
    fn pick_in(&self, tier: &Tier, ctx: &Ctx<'_>, key: Option<u64>) -> Option<usize> {
        match (self, &tier.extra, key) {
            (Algorithm::LeastConn, _, _) => least_conn::pick(tier, ctx),
            (Algorithm::Random, Extra::Alias(a), _) => random::pick(tier, ctx, a),
            (Algorithm::P2c, Extra::Alias(a), _) => p2c::pick(tier, ctx, a),
            (Algorithm::PeakEwma, Extra::Alias(a), _) => peak_ewma::pick(tier, ctx, a),
            (Algorithm::IpHash, _, Some(k)) => ip_hash::pick(tier, ctx, k),
            (Algorithm::ConsistentHash { .. }, Extra::Ring(r), Some(k)) => {
                consistent_hash::pick(tier, ctx, r, k, self.bound())
            }
            (Algorithm::Maglev { .. }, Extra::Maglev(t), Some(k)) => {
                maglev::pick(tier, ctx, t, k, self.bound())
            }
            // round_robin, and the hash algorithms without a key.
            _ => round_robin::pick(tier, ctx),
        }
    }
}

/// The most ring points per unit of weight [`Algorithm::validate`] accepts.
pub const MAX_VNODES: u32 = 10_000;
/// The largest Maglev table [`Algorithm::validate`] accepts (a prime near
/// 2^24: 64 MiB of table).
pub const MAX_MAGLEV_TABLE_SIZE: u32 = 16_777_213;

/// Whether `n` is prime (trial division; for validating table sizes).
#[must_use]
pub fn is_prime(n: u32) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n % 2 == 0 {
        return false;
    }
    let n = u64::from(n);
    (3..)
        .step_by(2)
        .take_while(|d| d * d <= n)
        .all(|d| n % d != 0)
}

/// The table size a build uses: the given size if valid, else the next prime
/// within bounds.
pub(crate) fn usable_table_size(size: u32) -> u32 {
    let mut m = size.clamp(2, MAX_MAGLEV_TABLE_SIZE);
    while !is_prime(m) {
        m += 1;
    }
    m
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_recognised() {
        let primes: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(DEFAULT_MAGLEV_TABLE_SIZE));
        assert!(is_prime(MAX_MAGLEV_TABLE_SIZE));
        assert!(!is_prime(65536));
    }

    #[test]
    fn validate_rejects_bad_parameters_with_a_message() {
        let maglev = |table_size, bounded_load| Algorithm::Maglev {
            table_size,
            bounded_load,
        };
        assert!(maglev(65537, None).validate().is_ok());
        assert!(maglev(65537, Some(1.25)).validate().is_ok());
        let e = maglev(65536, None).validate().unwrap_err();
        assert!(e.contains("prime") && e.contains("65536"), "{e}");
        assert!(maglev(65537, Some(0.5)).validate().is_err());
        assert!(maglev(65537, Some(f64::NAN)).validate().is_err());
        let ring = |vnodes| Algorithm::ConsistentHash {
            vnodes,
            bounded_load: None,
        };
        assert!(ring(160).validate().is_ok());
        assert!(ring(0).validate().unwrap_err().contains("vnodes"));
        assert!(ring(MAX_VNODES + 1).validate().is_err());
        assert!(Algorithm::RoundRobin.validate().is_ok());
    }

    #[test]
    fn every_name_parses_and_round_trips() {
        for name in ALGORITHM_NAMES {
            let a: Algorithm = name.parse().unwrap();
            assert_eq!(a.name(), *name);
            assert_eq!(a.to_string(), *name);
            assert!(a.validate().is_ok());
        }
        assert!("fastest".parse::<Algorithm>().is_err());
    }

    #[test]
    fn bad_table_sizes_are_rounded_up_to_a_prime() {
        assert_eq!(usable_table_size(65536), 65537);
        assert_eq!(usable_table_size(0), 2);
        assert_eq!(usable_table_size(u32::MAX), MAX_MAGLEV_TABLE_SIZE);
    }
}
