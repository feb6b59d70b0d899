//! Golden vectors: the seedless hash and the picks of the hash algorithms
//! must never change, or two instances (or two releases) would send the same
//! key to different servers. The hash values were checked against the
//! reference xxHash implementation (Python `xxhash.xxh3_64_intdigest`).
//!
//! If a test here fails, a change broke the promise of SPEC §4: revert it,
//! or document the break as a compatibility change.

// Helpers outside `#[test]` fns: a panic there is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lb_balance::{hash, Algorithm, Balancer, Endpoint, PickRequest};

#[test]
fn hash_key_is_xxh3_64_with_seed_0() {
    let long_x = "x".repeat(300);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let hex = "0123456789abcdef".repeat(8);
    let vectors: [(&[u8], u64); 10] = [
        (b"", 0x2d06_8005_38d3_94c2),
        (b"a", 0xe6c6_32b6_1e96_4e1f),
        (b"abc", 0x78af_5f94_892f_3950),
        (b"10.0.0.1", 0xb61d_99f8_e56b_6646),
        (b"user-42", 0x50fe_4b21_cf7b_09cd),
        (
            b"session=8f14e45fceea167a5a36dedd4bea2543",
            0x62bd_f300_91ba_ab6b,
        ),
        (
            b"/api/v2/users/12345?expand=true&page=2",
            0xe7aa_04ef_ff6e_91d4,
        ),
        (long_x.as_bytes(), 0xa5d1_b460_7dc8_3554),
        (&bytes, 0xa870_f929_8439_8d22),
        (hex.as_bytes(), 0x2a34_ce5f_2f59_0a81),
    ];
    for (input, expected) in vectors {
        assert_eq!(
            hash::hash_key(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn hash_ip_hashes_the_octets() {
    let vectors = [
        ("192.0.2.1", 0x2c1c_901e_ed9a_dc4a),
        ("::ffff:192.0.2.1", 0x2c1c_901e_ed9a_dc4a),
        ("2001:db8::1", 0x275c_8fa5_8c2d_19a0),
        ("127.0.0.1", 0xab57_9567_62b0_28c1),
    ];
    for (ip, expected) in vectors {
        assert_eq!(hash::hash_ip(ip.parse().unwrap()), expected, "{ip}");
    }
}

#[test]
fn mix64_and_slot_are_fixed() {
    assert_eq!(hash::mix64(0), 0xe220_a839_7b1d_cdaf);
    assert_eq!(hash::slot(u64::MAX, 65537), 65536);
    assert_eq!(hash::slot(1 << 63, 10), 5);
}

/// Servers 1..=5 of weights 1, 2, 1, 3, 1 and keys `hash_key("client-<i>")`:
/// the server (last digit of its address) each of 16 keys goes to.
fn picks(algorithm: Algorithm) -> String {
    let servers = [
        ("10.0.0.1:8080", 1),
        ("10.0.0.2:8080", 2),
        ("10.0.0.3:8080", 1),
        ("10.0.0.4:8080", 3),
        ("10.0.0.5:8080", 1),
    ];
    let eps = servers
        .into_iter()
        .map(|(id, w)| Endpoint::new(id, &id[7..8]).with_weight(w))
        .collect();
    let b = Balancer::new(algorithm, eps);
    (0..16)
        .map(|i| {
            let key = hash::hash_key(format!("client-{i}").as_bytes());
            *b.pick(&PickRequest::with_key(key)).unwrap().value()
        })
        .collect()
}

#[test]
fn ip_hash_picks_are_fixed() {
    assert_eq!(picks(Algorithm::IpHash), "2441154441212341");
}

#[test]
fn consistent_hash_picks_are_fixed() {
    let ring = Algorithm::ConsistentHash {
        vnodes: 160,
        bounded_load: None,
    };
    assert_eq!(picks(ring), "4442224315242554");
}

#[test]
fn maglev_picks_are_fixed() {
    let maglev = Algorithm::Maglev {
        table_size: 65537,
        bounded_load: None,
    };
    assert_eq!(picks(maglev), "3142424425244145");
}
