//! Version 2: a binary header, 16 fixed bytes then an address block and TLVs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{ProxyError, ProxyHeader, Version};

/// The 12 bytes every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest v2 header (16 fixed bytes, addresses and TLVs) this parser
/// accepts. The wire format allows 16 + 65535 bytes; no sender needs more
/// than a few hundred, and a receiver should not buffer 64 KiB for a peer
/// that has not been checked yet.
pub const V2_MAX_LEN: usize = 4096;

const FIXED: usize = 16;
const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;
const AF_UNSPEC: u8 = 0x0;
const AF_INET: u8 = 0x1;
const AF_INET6: u8 = 0x2;
const AF_UNIX: u8 = 0x3;
const PROTO_UNSPEC: u8 = 0x0;
const PROTO_STREAM: u8 = 0x1;
const PROTO_DGRAM: u8 = 0x2;
const INET_LEN: usize = 12;
const INET6_LEN: usize = 36;
const UNIX_LEN: usize = 216;

/// Parse a v2 header; `buf` starts with (a prefix of) [`V2_SIGNATURE`].
pub(super) fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    // Reject a bad version or command as soon as the byte is there.
    let Some(&ver_cmd) = buf.get(12) else {
        return Ok(None);
    };
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Invalid("v2 version is not 2"));
    }
    let command = ver_cmd & 0x0f;
    if command != CMD_LOCAL && command != CMD_PROXY {
        return Err(ProxyError::Invalid("v2 command is neither LOCAL nor PROXY"));
    }
    let Some(&fam) = buf.get(13) else {
        return Ok(None);
    };
    let (family, proto) = (fam >> 4, fam & 0x0f);
    // LOCAL ignores the family ("the family which is ignored").
    if command == CMD_PROXY && (family > AF_UNIX || proto > PROTO_DGRAM) {
        return Err(ProxyError::Invalid(
            "v2 address family or protocol is not assigned",
        ));
    }
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Ok(None);
    };
    let total = FIXED + usize::from(u16::from_be_bytes([hi, lo]));
    if total > V2_MAX_LEN {
        return Err(ProxyError::TooLong);
    }
    let Some(block) = buf.get(FIXED..total) else {
        return Ok(None);
    };
    if command == CMD_LOCAL || family == AF_UNSPEC || proto == PROTO_UNSPEC {
        // No usable addresses; the block is skipped whole.
        return Ok(Some((ProxyHeader::unknown(Version::V2), total)));
    }
    let (header, tlvs) = match family {
        AF_INET => {
            let a = block.get(..INET_LEN).ok_or(SHORT)?;
            let src = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            let dst = Ipv4Addr::new(a[4], a[5], a[6], a[7]);
            let header = addresses(src.into(), dst.into(), &a[8..12]);
            (header, &block[INET_LEN..])
        }
        AF_INET6 => {
            let a = block.get(..INET6_LEN).ok_or(SHORT)?;
            let src = Ipv6Addr::from(octets16(&a[0..16]));
            let dst = Ipv6Addr::from(octets16(&a[16..32]));
            let header = addresses(src.into(), dst.into(), &a[32..36]);
            (header, &block[INET6_LEN..])
        }
        _ => {
            // AF_UNIX: paths are no socket addresses; use the real ones.
            let _ = block.get(..UNIX_LEN).ok_or(SHORT)?;
            (ProxyHeader::unknown(Version::V2), &block[UNIX_LEN..])
        }
    };
    check_tlvs(tlvs)?;
    Ok(Some((header, total)))
}

const SHORT: ProxyError = ProxyError::Invalid("v2 address block is shorter than its family needs");

fn octets16(s: &[u8]) -> [u8; 16] {
    let mut o = [0u8; 16];
    o.copy_from_slice(s);
    o
}

fn addresses(src: IpAddr, dst: IpAddr, ports: &[u8]) -> ProxyHeader {
    let sport = u16::from_be_bytes([ports[0], ports[1]]);
    let dport = u16::from_be_bytes([ports[2], ports[3]]);
    ProxyHeader::new(
        Version::V2,
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
    )
}

/// Every TLV (type, 16-bit length, value) must fit exactly in the block.
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), ProxyError> {
    while !tlvs.is_empty() {
        let [_, hi, lo, ..] = *tlvs else {
            return Err(ProxyError::Invalid("v2 TLV header is cut short"));
        };
        let end = 3 + usize::from(u16::from_be_bytes([hi, lo]));
        tlvs = tlvs
            .get(end..)
            .ok_or(ProxyError::Invalid("v2 TLV value overruns the header"))?;
    }
    Ok(())
}

/// Append a `PROXY` / `STREAM` header; both addresses have the same family.
pub(super) fn encode(src: SocketAddr, dst: SocketAddr, out: &mut Vec<u8>) {
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(0x20 | CMD_PROXY);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(AF_INET << 4 | PROTO_STREAM);
            out.extend_from_slice(&(INET_LEN as u16).to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            out.push(AF_INET6 << 4 | PROTO_STREAM);
            out.extend_from_slice(&(INET6_LEN as u16).to_be_bytes());
            out.extend_from_slice(&to_v6(s).octets());
            out.extend_from_slice(&to_v6(d).octets());
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Append a `LOCAL` header with `AF_UNSPEC` and no address block.
pub(super) fn encode_local(out: &mut Vec<u8>) {
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(0x20 | CMD_LOCAL);
    out.push(AF_UNSPEC << 4 | PROTO_UNSPEC);
    out.extend_from_slice(&[0, 0]);
}
