//! The fixed, seedless 64-bit hash used by every hash algorithm.
//!
//! It is XXH3-64 with seed 0 (the published xxHash specification): the same
//! bytes give the same value on every platform and in every release, so two
//! instances with the same configuration make the same picks. Test vectors in
//! `tests/vectors.rs` freeze that promise, for the hash and for the picks of
//! `ip_hash`, `consistent_hash` and `maglev`.
//!
//! Every place a hash algorithm derives a number from a key or an endpoint id
//! uses only [`hash_key`], the splitmix64 finalizer ([`mix64`]) and integer
//! arithmetic, so nothing depends on the platform, the process or the
//! standard library's hasher.
//!
//! ```
//! use lb_balance::hash::{hash_ip, hash_key};
//!
//! assert_eq!(hash_key(b""), 0x2d06_8005_38d3_94c2); // XXH3-64 of no bytes
//! let v4: std::net::IpAddr = "192.0.2.1".parse().unwrap();
//! let mapped: std::net::IpAddr = "::ffff:192.0.2.1".parse().unwrap();
//! assert_eq!(hash_ip(v4), hash_ip(mapped));
//! ```

/// Hash a key (client address bytes, header value, cookie, ...).
#[must_use]
pub fn hash_key(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Hash a client IP address by its octets (4 for IPv4, 16 for IPv6; an
/// IPv4-mapped IPv6 address hashes as the IPv4 address).
#[must_use]
pub fn hash_ip(ip: std::net::IpAddr) -> u64 {
    match ip {
        std::net::IpAddr::V4(v4) => hash_key(&v4.octets()),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => hash_key(&v4.octets()),
            None => hash_key(&v6.octets()),
        },
    }
}

/// The splitmix64 finalizer of `x + 0x9e3779b97f4a7c15`: a fixed bijection
/// on 64-bit values, used to derive a new well-mixed number from a hash
/// (the next probe of `ip_hash`, Maglev's `skip`).
#[must_use]
pub const fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The slot of a key in a table of `len` entries: `⌊key × len / 2^64⌋`
/// (a multiply-shift, no division; uses the key's high bits).
#[must_use]
pub const fn slot(key: u64, len: u64) -> u64 {
    ((key as u128 * len as u128) >> 64) as u64
}
