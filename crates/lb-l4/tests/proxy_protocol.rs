//! PROXY protocol: byte-exact against the HAProxy specification's examples,
//! strict rejection, and both directions over real sockets.
// Helper functions outside #[test] fns panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use lb_balance::Algorithm;
use lb_l4::proxy_protocol::{
    self, accept, encode, encode_unknown, parse, ProxyError, ProxyHeader, Version, V2_SIGNATURE,
};
use lb_l4::{TcpOptions, TcpProxy};
use proptest::prelude::*;
use support::{balancer, hold_time, GUARD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The specification's running example: 192.168.0.1:56324 → 192.168.0.11:443.
fn src4() -> SocketAddr {
    "192.168.0.1:56324".parse().unwrap()
}
fn dst4() -> SocketAddr {
    "192.168.0.11:443".parse().unwrap()
}
/// The specification's longest TCP6 line uses all-ones addresses.
fn ones6(port: u16) -> SocketAddr {
    SocketAddr::new(
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
        port,
    )
}

const V1_TCP4: &[u8] = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
const V1_TCP6: &[u8] = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
const V1_UNKNOWN: &[u8] = b"PROXY UNKNOWN\r\n";
const V1_UNKNOWN_WORST: &[u8] = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";

/// v2 built by hand from the specification's layout: signature, ver_cmd,
/// fam, big-endian length, then the address block.
fn v2_tcp4() -> Vec<u8> {
    let mut v = vec![
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
    ];
    v.push(0x21); // version 2, command PROXY
    v.push(0x11); // AF_INET, STREAM
    v.extend_from_slice(&[0x00, 0x0C]); // 12 bytes follow
    v.extend_from_slice(&[192, 168, 0, 1]); // source address
    v.extend_from_slice(&[192, 168, 0, 11]); // destination address
    v.extend_from_slice(&[0xDC, 0x04]); // source port 56324
    v.extend_from_slice(&[0x01, 0xBB]); // destination port 443
    v
}

fn v2_tcp6() -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.extend_from_slice(&[0x21, 0x21, 0x00, 0x24]); // PROXY, AF_INET6 + STREAM, 36 bytes
    v.extend_from_slice(&[
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    ]);
    v.extend_from_slice(&[
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11,
    ]);
    v.extend_from_slice(&[0xDC, 0x04, 0x01, 0xBB]);
    v
}

fn v2_local() -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]); // LOCAL, AF_UNSPEC, no block
    v
}

fn src6() -> SocketAddr {
    "[2001:db8::1]:56324".parse().unwrap()
}
fn dst6() -> SocketAddr {
    "[2001:db8::11]:443".parse().unwrap()
}

fn parsed(buf: &[u8]) -> (ProxyHeader, usize) {
    parse(buf).unwrap().expect("complete header")
}

// ---- encode ------------------------------------------------------------

#[test]
fn v1_encodes_the_specification_examples() {
    let mut out = Vec::new();
    encode(Version::V1, src4(), dst4(), &mut out);
    assert_eq!(out, V1_TCP4);

    out.clear();
    encode(Version::V1, ones6(65535), ones6(65535), &mut out);
    assert_eq!(out, V1_TCP6);
    assert_eq!(out.len(), 104, "the specification's TCP6 maximum");

    out.clear();
    encode_unknown(Version::V1, &mut out);
    assert_eq!(out, V1_UNKNOWN);
}

#[test]
fn v2_encodes_the_hand_built_layout() {
    let mut out = Vec::new();
    encode(Version::V2, src4(), dst4(), &mut out);
    assert_eq!(out, v2_tcp4());

    out.clear();
    encode(Version::V2, src6(), dst6(), &mut out);
    assert_eq!(out, v2_tcp6());

    out.clear();
    encode_unknown(Version::V2, &mut out);
    assert_eq!(out, v2_local());
}

#[test]
fn mixed_families_are_written_as_one() {
    // A v4-mapped client on a dual-stack socket is written as IPv4.
    let mapped: SocketAddr = "[::ffff:192.168.0.1]:56324".parse().unwrap();
    let mut out = Vec::new();
    encode(Version::V1, mapped, dst4(), &mut out);
    assert_eq!(out, V1_TCP4);
    // A real IPv6 client to an IPv4 address: both as IPv6.
    out.clear();
    encode(Version::V1, src6(), dst4(), &mut out);
    assert_eq!(
        out,
        b"PROXY TCP6 2001:db8::1 ::ffff:192.168.0.11 56324 443\r\n"
    );
}

// ---- parse -------------------------------------------------------------

#[test]
fn v1_parses_the_specification_examples() {
    let mut wire = V1_TCP4.to_vec();
    wire.extend_from_slice(b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n");
    let (h, n) = parsed(&wire);
    assert_eq!(
        (h.version, h.source, h.destination),
        (Version::V1, Some(src4()), Some(dst4()))
    );
    assert_eq!(n, V1_TCP4.len());

    let (h, n) = parsed(V1_TCP6);
    assert_eq!(
        (h.source, h.destination),
        (Some(ones6(65535)), Some(ones6(65535)))
    );
    assert_eq!(n, 104);

    for unknown in [V1_UNKNOWN, V1_UNKNOWN_WORST] {
        let (h, n) = parsed(unknown);
        assert_eq!((h.source, h.destination, n), (None, None, unknown.len()));
    }
    assert_eq!(
        V1_UNKNOWN_WORST.len(),
        107,
        "the specification's worst case"
    );
}

#[test]
fn v2_parses_the_hand_built_headers() {
    let mut wire = v2_tcp4();
    wire.extend_from_slice(b"rest");
    let (h, n) = parsed(&wire);
    assert_eq!(
        (h.version, h.source, h.destination),
        (Version::V2, Some(src4()), Some(dst4()))
    );
    assert_eq!(n, 28);

    let (h, n) = parsed(&v2_tcp6());
    assert_eq!(
        (h.source, h.destination, n),
        (Some(src6()), Some(dst6()), 52)
    );

    let (h, n) = parsed(&v2_local());
    assert_eq!((h.source, h.destination, n), (None, None, 16));
}

#[test]
fn v2_skips_tlvs_and_unusable_families() {
    // PP2_TYPE_AUTHORITY "example.com" and a PP2_TYPE_NOOP after the addresses.
    let mut v = v2_tcp4();
    let tlvs = [
        &[0x02, 0x00, 0x0b][..],
        b"example.com",
        &[0x04, 0x00, 0x02, 0, 0],
    ]
    .concat();
    v[15] += tlvs.len() as u8;
    v.extend_from_slice(&tlvs);
    let (h, n) = parsed(&v);
    assert_eq!((h.source, n), (Some(src4()), v.len()));

    // UDP over IPv4 still carries addresses.
    let mut udp = v2_tcp4();
    udp[13] = 0x12;
    assert_eq!(parsed(&udp).0.source, Some(src4()));

    // AF_UNIX stream (216-byte block) and PROXY + AF_UNSPEC: no addresses.
    let mut unix = V2_SIGNATURE.to_vec();
    unix.extend_from_slice(&[0x21, 0x31, 0x00, 0xD8]);
    unix.extend_from_slice(&[b'/'; 216]);
    assert_eq!(parsed(&unix), (ProxyHeader::unknown(Version::V2), 232));
    let mut unspec = V2_SIGNATURE.to_vec();
    unspec.extend_from_slice(&[0x21, 0x00, 0x00, 0x03, 1, 2, 3]);
    assert_eq!(parsed(&unspec), (ProxyHeader::unknown(Version::V2), 19));

    // LOCAL must skip whatever block length it announces.
    let mut local = v2_local();
    local[15] = 4;
    local.extend_from_slice(&[9, 9, 9, 9, b'x']);
    assert_eq!(parsed(&local).1, 20);
}

#[test]
fn every_proper_prefix_asks_for_more() {
    let mut with_tlv = v2_tcp4();
    with_tlv[15] += 3;
    with_tlv.extend_from_slice(&[0x04, 0x00, 0x00]);
    for header in [
        V1_TCP4,
        V1_TCP6,
        V1_UNKNOWN,
        &v2_tcp4(),
        &v2_tcp6(),
        &v2_local(),
        &with_tlv,
    ] {
        for cut in 0..header.len() {
            assert!(
                parse(&header[..cut]).unwrap().is_none(),
                "{cut} of {header:?}"
            );
        }
        assert_eq!(parsed(header).1, header.len());
    }
}

#[test]
fn malformed_headers_are_rejected() {
    let v1_bad: &[&[u8]] = &[
        b"PROXY TCP4 192.168.00.1 192.168.0.11 56324 443\r\n", // leading zero in address
        b"PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n", // leading zero in port
        b"PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",  // port out of range
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",    // LF without CR
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",   // CR without LF
        b"PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n", // two spaces
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",      // too few fields
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 1\r\n", // too many
        b"PROXY TCP4 2001:db8::1 2001:db8::11 56324 443\r\n",  // family mismatch
        b"PROXY TCP6 192.168.0.1 192.168.0.11 56324 443\r\n",  // family mismatch
        b"PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n",  // unknown protocol
        b"PROXY UNKNOWNX\r\n",
        b"PROXY \r\n",
        b"PROXY TCP4 192.168.0.1\x00192.168.0.11 56324 443\r\n", // not printable
        b"PROXY\r\n",
    ];
    for bad in v1_bad {
        assert!(
            parse(bad).is_err(),
            "accepted {:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // No CRLF in the first 107 bytes.
    let long = [b"PROXY UNKNOWN ".as_slice(), &[b'a'; 100]].concat();
    assert!(matches!(parse(&long), Err(ProxyError::TooLong)));
    let mut cr_at_end = [b"PROXY UNKNOWN ".as_slice(), &[b'a'; 92]].concat();
    cr_at_end.extend_from_slice(b"\r\n"); // CRLF as bytes 107 and 108
    assert!(matches!(parse(&cr_at_end), Err(ProxyError::TooLong)));

    let v2 = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = v2_tcp4();
        f(&mut v);
        v
    };
    let v2_bad = [
        v2(&|v| v[12] = 0x11), // version 1
        v2(&|v| v[12] = 0x22), // command 2
        v2(&|v| v[13] = 0x41), // family 4
        v2(&|v| v[13] = 0x13), // protocol 3
        v2(&|v| {
            v[15] = 8; // AF_INET needs 12 bytes
            v.truncate(24);
        }),
        v2(&|v| {
            v[15] = 14; // a TLV that overruns the block
            v.extend_from_slice(&[0x04, 0x00]);
        }),
        v2(&|v| {
            v[15] = 16;
            v.extend_from_slice(&[0x04, 0x00, 0x05, 0]);
        }),
    ];
    for bad in &v2_bad {
        assert!(
            matches!(parse(bad), Err(ProxyError::Invalid(_))),
            "accepted {bad:?}"
        );
    }
    let mut huge = v2_tcp4();
    huge[14] = 0x13; // 4876 + 12 bytes: over V2_MAX_LEN
    assert!(matches!(parse(&huge), Err(ProxyError::TooLong)));

    for not in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x16\x03\x01",
        b"\r\n\r\nX",
        b"proxy tcp4",
    ] {
        assert!(
            matches!(parse(not), Err(ProxyError::NotProxyProtocol)),
            "{not:?}"
        );
    }
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(Some((_, n))) = parse(&bytes) {
            prop_assert!(n <= bytes.len());
        }
    }

    #[test]
    fn parse_never_panics_after_a_valid_start(
        v2 in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let start: &[u8] = if v2 { &V2_SIGNATURE } else { b"PROXY " };
        let bytes = [start, &tail].concat();
        if let Ok(Some((_, n))) = parse(&bytes) {
            prop_assert!(n <= bytes.len());
        }
    }

    #[test]
    fn encode_then_parse_round_trips(
        v6 in any::<bool>(),
        a in any::<[u8; 16]>(),
        b in any::<[u8; 16]>(),
        ports in any::<(u16, u16)>(),
        v2 in any::<bool>(),
    ) {
        let (src, dst): (SocketAddr, SocketAddr) = if v6 {
            (
                (std::net::Ipv6Addr::from(a), ports.0).into(),
                (std::net::Ipv6Addr::from(b), ports.1).into(),
            )
        } else {
            (
                (std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]), ports.0).into(),
                (std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]), ports.1).into(),
            )
        };
        let version = if v2 { Version::V2 } else { Version::V1 };
        let mut out = Vec::new();
        encode(version, src, dst, &mut out);
        let (h, n) = parse(&out).unwrap().unwrap();
        prop_assert_eq!(n, out.len());
        let canon = |s: SocketAddr| SocketAddr::new(s.ip().to_canonical(), s.port());
        // v4-mapped IPv6 addresses are written as IPv4 (same family both ways).
        let same = src.ip().to_canonical().is_ipv4() == dst.ip().to_canonical().is_ipv4();
        if same {
            prop_assert_eq!(h.source, Some(canon(src)));
            prop_assert_eq!(h.destination, Some(canon(dst)));
        }
    }
}

// ---- over sockets --------------------------------------------------------

/// A connected pair of real TCP sockets: (client side, accepted side).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// A backend that records everything it receives until EOF.
async fn recording_backend() -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    (addr, task)
}

/// Proxy one connection claiming to come from `client` to `local`, with
/// `send_proxy_protocol = version`; returns what the backend read.
async fn sent_header(version: Version, client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let (backend, got) = recording_backend().await;
    let mut opts = TcpOptions::default();
    opts.send_proxy_protocol = Some(version);
    let proxy = TcpProxy::new("pp", balancer(Algorithm::RoundRobin, &[backend]), opts);
    let (mut user, accepted) = pair().await;
    let served = tokio::spawn(async move { proxy.serve_connection(accepted, client, local).await });
    user.write_all(b"payload").await.unwrap();
    user.shutdown().await.unwrap();
    let mut rest = Vec::new();
    user.read_to_end(&mut rest).await.unwrap();
    served.await.unwrap().unwrap();
    tokio::time::timeout(GUARD, got).await.unwrap().unwrap()
}

#[tokio::test]
async fn the_proxy_sends_byte_exact_headers() {
    let expect = |h: &[u8]| [h, b"payload"].concat();
    assert_eq!(
        sent_header(Version::V1, src4(), dst4()).await,
        expect(V1_TCP4)
    );
    assert_eq!(
        sent_header(Version::V2, src4(), dst4()).await,
        expect(&v2_tcp4())
    );
    assert_eq!(
        sent_header(Version::V2, src6(), dst6()).await,
        expect(&v2_tcp6())
    );
    assert_eq!(
        sent_header(Version::V1, ones6(65535), ones6(65535)).await,
        expect(V1_TCP6)
    );
}

#[tokio::test]
async fn accept_reads_the_header_and_keeps_the_rest() {
    for (header, source) in [
        (V1_TCP4.to_vec(), src4()),
        (v2_tcp4(), src4()),
        (v2_tcp6(), src6()),
    ] {
        let (mut client, server) = pair().await;
        // The header arrives in two pieces, the application bytes with the second.
        let (a, b) = header.split_at(7);
        client.write_all(a).await.unwrap();
        let writer = tokio::spawn({
            let b = [b, b"hello"].concat();
            async move {
                tokio::task::yield_now().await;
                client.write_all(&b).await.unwrap();
                client
            }
        });
        let (h, mut stream) = accept(server, GUARD).await.unwrap();
        assert_eq!(h.source, Some(source));
        let mut hello = [0u8; 5];
        stream.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"hello");
        drop(writer.await.unwrap());
    }
}

#[tokio::test]
async fn an_accepted_header_is_relayed_with_the_bytes_after_it() {
    // lb behind another balancer: accept v1, proxy with splice, send v2.
    let (backend, got) = recording_backend().await;
    let mut opts = TcpOptions::default();
    opts.send_proxy_protocol = Some(Version::V2);
    let proxy = TcpProxy::new("pp", balancer(Algorithm::RoundRobin, &[backend]), opts);
    let (mut user, accepted) = pair().await;
    let local = accepted.local_addr().unwrap();
    user.write_all(&[V1_TCP4, b"early bytes"].concat())
        .await
        .unwrap();
    user.shutdown().await.unwrap();
    let (h, stream) = accept(accepted, GUARD).await.unwrap();
    let client = h.source.unwrap();
    let record = proxy.serve_connection(stream, client, local).await.unwrap();
    assert_eq!(record.client, src4());

    let mut expect = Vec::new();
    encode(Version::V2, src4(), local, &mut expect);
    expect.extend_from_slice(b"early bytes");
    assert_eq!(got.await.unwrap(), expect);
}

#[tokio::test]
async fn malformed_headers_on_a_socket_are_errors() {
    type Check = fn(&ProxyError) -> bool;
    let cases: [(&[u8], Check); 3] = [
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", |e| {
            matches!(e, ProxyError::Invalid(_))
        }),
        (b"GET / HTTP/1.1\r\n\r\n", |e| {
            matches!(e, ProxyError::NotProxyProtocol)
        }),
        (b"PROXY TCP4 1.2", |e| {
            matches!(e, ProxyError::UnexpectedEof)
        }),
    ];
    for (bytes, expected) in cases {
        let (mut client, server) = pair().await;
        client.write_all(bytes).await.unwrap();
        client.shutdown().await.unwrap();
        let err = accept(server, GUARD).await.unwrap_err();
        assert!(expected(&err), "{err:?} for {bytes:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_header_times_out_and_the_listener_carries_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    let hold = hold_time();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"PROXY TCP4 192.").await.unwrap(); // ...and nothing more
    let (server, _) = listener.accept().await.unwrap();
    drop(hold);
    let start = tokio::time::Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        accept(server, Duration::from_secs(5)),
    )
    .await
    .expect("accept's own timeout fires first")
    .unwrap_err();
    assert!(matches!(err, ProxyError::Timeout), "{err:?}");
    assert!(start.elapsed() >= Duration::from_secs(5));

    // The next connection on the same listener is served normally.
    let _hold = hold_time();
    let mut good = TcpStream::connect(addr).await.unwrap();
    good.write_all(&v2_tcp4()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let (h, _) = accept(server, Duration::from_secs(5)).await.unwrap();
    assert_eq!(h.source, Some(src4()));
    drop(slow);
}

#[test]
fn versions_parse_from_config_strings() {
    assert_eq!("v1".parse::<Version>().unwrap(), Version::V1);
    assert_eq!("v2".parse::<Version>().unwrap(), Version::V2);
    assert!("v3".parse::<Version>().is_err());
    assert_eq!(proxy_protocol::V1_MAX_LEN, 107);
}
