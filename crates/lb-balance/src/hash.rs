//! The fixed, seedless 64-bit hash used by every hash algorithm.
//!
//! It is XXH3-64 with seed 0 (the published xxHash specification): the same
//! bytes give the same value on every platform and in every release, so two
//! instances with the same configuration make the same picks. Test vectors in
//! this crate freeze that promise.

/// Hash a key (client address bytes, header value, cookie, ...).
#[must_use]
pub fn hash_key(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Hash a client IP address by its octets (4 for IPv4, 16 for IPv6).
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
