//! `ip_hash`: the key (usually the client address) picks the server from a
//! weighted slot table; an unavailable server passes the key on.
//!
//! The slot table is the tier's smooth weighted round-robin cycle (each
//! member appears `weight / gcd` times), and a key's slot is
//! [`hash::slot`]`(key, len)`. When that member cannot be picked the key is
//! passed on along a fixed probe sequence `k1 = mix64(key)`,
//! `k2 = mix64(k1)`, ... (up to 16 probes, so one server's keys spread over
//! all the others instead of piling onto a neighbour), and then to the next
//! member in configuration order. Keys of available servers never move.
//! Unlike `consistent_hash` and `maglev`, adding or removing a server moves
//! most keys (it is modulo hashing, as nginx's `ip_hash`).

use crate::hash;
use crate::table::{Ctx, Tier};

/// Probes along the key's sequence before scanning the members.
const PROBES: usize = 16;

/// The member for `key`, or `None` when no member can be picked.
#[inline]
pub(crate) fn pick(tier: &Tier, ctx: &Ctx<'_>, key: u64) -> Option<usize> {
    let len = tier.rr.len() as u64;
    if len == 0 {
        return None;
    }
    let slot = |k: u64| tier.rr[hash::slot(k, len) as usize] as usize;
    let first = slot(key);
    if tier.load(ctx, first).is_some() {
        return Some(first);
    }
    let mut k = key;
    for _ in 0..PROBES {
        k = hash::mix64(k);
        let pos = slot(k);
        if tier.load(ctx, pos).is_some() {
            return Some(pos);
        }
    }
    tier.scan_from(ctx, first + 1)
}
