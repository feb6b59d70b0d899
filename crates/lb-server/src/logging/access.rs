//! Access log lines formatted by hand: the bytes tracing-subscriber's `text`
//! and `json` layers write for the `lb::access` events, without its
//! per-field `core::fmt` machinery.
//!
//! Differences on purpose, text only: control characters in string values
//! (C0, DEL and C1) are written as `\xNN` / `\u{NN}` escapes where the fmt
//! layer writes them raw, so a client's `Host` or path cannot forge lines or
//! send terminal escapes. JSON lines are identical in every case (serde_json
//! escapes them already).

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::{clock, Format, ACCESS_TARGET};
use crate::metrics::http::RequestOutcome;
use crate::metrics::tcp::ConnectionOutcome;

/// Durations below this many microseconds (about 31 years) are written from
/// the integer; their `f64` milliseconds print the same digits (at most 15
/// significant ones, which an `f64` round-trips exactly).
const EXACT_MICROS: u128 = 1_000_000_000_000_000;

/// Room for a line's fixed parts: timestamp, level, target, keys, numbers
/// and addresses (reserved up front with the string values' lengths, so
/// the line's appends never reallocate).
const LINE_FIXED: usize = 384;

/// Append the line for one HTTP request.
pub(crate) fn http_line(
    out: &mut Vec<u8>,
    format: Format,
    now: SystemTime,
    listener: &str,
    o: &RequestOutcome<'_>,
) {
    out.reserve(
        LINE_FIXED
            + listener.len()
            + o.method.len()
            + o.host.len()
            + o.path.len()
            + o.upstream.map_or(1, str::len)
            + o.server.map_or(1, str::len),
    );
    let mut line = Line::start(out, format, now);
    line.str("listener", listener);
    line.addr("client", o.client);
    line.str("method", o.method);
    line.str("host", o.host);
    line.str("path", o.path);
    line.uint("status", u64::from(o.status));
    line.str("upstream", o.upstream.unwrap_or("-"));
    line.str("server", o.server.unwrap_or("-"));
    line.millis("duration_ms", o.duration);
    line.uint("bytes_in", o.bytes_in);
    line.uint("bytes_out", o.bytes_out);
    line.finish();
}

/// Append the line for one TCP connection.
pub(crate) fn tcp_line(
    out: &mut Vec<u8>,
    format: Format,
    now: SystemTime,
    listener: &str,
    o: &ConnectionOutcome<'_>,
) {
    out.reserve(LINE_FIXED + listener.len() + o.close.len());
    let mut line = Line::start(out, format, now);
    line.str("listener", listener);
    line.addr("client", o.client);
    match o.server {
        Some(server) => line.addr("server", server),
        None => line.str("server", "-"),
    }
    line.uint("bytes_up", o.bytes_up);
    line.uint("bytes_down", o.bytes_down);
    line.millis("duration_ms", o.duration);
    line.str("close", o.close);
    line.finish();
}

/// A line being written: the prefix is out, fields follow.
struct Line<'a> {
    /// The line's bytes.
    out: &'a mut Vec<u8>,
    /// Text or JSON.
    format: Format,
    /// No field written yet (text: no separating space).
    first: bool,
}

impl<'a> Line<'a> {
    /// Write the timestamp, level and (text) target.
    fn start(out: &'a mut Vec<u8>, format: Format, now: SystemTime) -> Self {
        match format {
            Format::Text => {
                clock::write_timestamp(out, now);
                out.extend_from_slice(b"  INFO ");
                out.extend_from_slice(ACCESS_TARGET.as_bytes());
                out.extend_from_slice(b": ");
            }
            Format::Json => {
                out.extend_from_slice(b"{\"timestamp\":\"");
                clock::write_timestamp(out, now);
                out.extend_from_slice(b"\",\"level\":\"INFO\"");
            }
        }
        Self {
            out,
            format,
            first: true,
        }
    }

    /// Write `key=` or `,"key":`.
    ///
    /// Inlined so that the key's length is a constant at each call and its
    /// copy a few moves rather than a `memcpy` call.
    #[inline(always)]
    fn key(&mut self, key: &str) {
        match self.format {
            Format::Text => {
                if !self.first {
                    self.out.push(b' ');
                }
                self.out.extend_from_slice(key.as_bytes());
                self.out.push(b'=');
            }
            Format::Json => {
                self.out.extend_from_slice(b",\"");
                self.out.extend_from_slice(key.as_bytes());
                self.out.extend_from_slice(b"\":");
            }
        }
        self.first = false;
    }

    /// A string field (a `%` field of the event).
    #[inline]
    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        match self.format {
            Format::Text => escape_text(self.out, value),
            Format::Json => {
                // Cannot fail: a `Vec` takes every write.
                if serde_json::to_writer(&mut *self.out, value).is_err() {
                    self.out.extend_from_slice(b"\"\"");
                }
            }
        }
    }

    /// A socket address field, as its `Display`.
    #[inline]
    fn addr(&mut self, key: &str, value: SocketAddr) {
        self.key(key);
        let quote = self.format == Format::Json;
        if quote {
            self.out.push(b'"');
        }
        match value {
            SocketAddr::V4(v4) => {
                for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(b'.');
                    }
                    write_u64(self.out, u64::from(octet));
                }
                self.out.push(b':');
                write_u64(self.out, u64::from(v4.port()));
            }
            // Rare enough for `core::fmt` (zero compression, scope ids).
            // Cannot fail: a `Vec` takes every write.
            SocketAddr::V6(v6) => {
                let _ = write!(self.out, "{v6}");
            }
        }
        if quote {
            self.out.push(b'"');
        }
    }

    /// An unsigned integer field.
    #[inline]
    fn uint(&mut self, key: &str, value: u64) {
        self.key(key);
        write_u64(self.out, value);
    }

    /// A duration as `f64` milliseconds: `Debug` in text, serde_json's
    /// number in JSON (the same digits below [`EXACT_MICROS`]).
    #[inline]
    fn millis(&mut self, key: &str, value: Duration) {
        self.key(key);
        let micros = value.as_micros();
        if micros < EXACT_MICROS {
            write_exact_millis(self.out, micros);
            return;
        }
        let ms = super::millis(value);
        match self.format {
            // Cannot fail: a `Vec` takes every write.
            Format::Text => {
                let _ = write!(self.out, "{ms:?}");
            }
            Format::Json => {
                if serde_json::to_writer(&mut *self.out, &ms).is_err() {
                    self.out.extend_from_slice(b"null");
                }
            }
        }
    }

    /// End the line.
    fn finish(self) {
        match self.format {
            Format::Text => self.out.push(b'\n'),
            Format::Json => {
                self.out.extend_from_slice(b",\"target\":\"");
                self.out.extend_from_slice(ACCESS_TARGET.as_bytes());
                self.out.extend_from_slice(b"\"}\n");
            }
        }
    }
}

/// `micros / 1000` as the shortest decimal: integer part, a dot, then the
/// thousandths without trailing zeros (`0` when there are none), as `f64`
/// `Debug` and serde_json write it.
fn write_exact_millis(out: &mut Vec<u8>, micros: u128) {
    // Below `EXACT_MICROS`, so both parts fit a u64.
    let whole = u64::try_from(micros / 1000).unwrap_or(u64::MAX);
    let mut frac = u64::try_from(micros % 1000).unwrap_or(0);
    write_u64(out, whole);
    out.push(b'.');
    if frac == 0 {
        out.push(b'0');
        return;
    }
    let mut width = 3;
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    let mut digits = [0u8; 20];
    let start = u64_digits(&mut digits, frac);
    for _ in (digits.len() - start)..width {
        out.push(b'0');
    }
    out.extend_from_slice(&digits[start..]);
}

/// Append `v` in decimal.
fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let start = u64_digits(&mut digits, v);
    // Byte by byte: for the few digits of most values, cheaper than the
    // `memcpy` call a slice copy of unknown length becomes.
    for &d in &digits[start..] {
        out.push(d);
    }
}

/// `"00"` to `"99"`, back to back.
const PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        // `i / 10` and `i % 10` are digits.
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// Write `v` in decimal at the end of `buf`; returns where the digits start.
pub(crate) fn u64_digits(buf: &mut [u8; 20], mut v: u64) -> usize {
    let mut i = buf.len();
    // Two digits a step; a u64 has at most 20, so `i` stays in bounds.
    while v >= 100 {
        let pair = usize::try_from(v % 100).unwrap_or(0) * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    let last = usize::try_from(v).unwrap_or(0) * 2;
    if v >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[last..last + 2]);
    } else {
        i -= 1;
        buf[i] = PAIRS[last + 1];
    }
    i
}

/// Append a string value for a text line: as is, except control characters
/// (C0, DEL: `\xNN`; C1: `\u{NN}`, as tracing-subscriber escapes messages).
fn escape_text(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    // Written without an early exit so that it vectorizes.
    if !bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut done = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // U+0080..=U+009F are 0xC2 0x80..=0x9F in UTF-8.
        let c1 = b == 0xC2 && matches!(bytes.get(i + 1), Some(0x80..=0x9F));
        if b >= 0x20 && b != 0x7F && !c1 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[done..i]);
        if c1 {
            out.extend_from_slice(b"\\u{");
            // The second byte is the code point.
            push_hex(out, bytes[i + 1]);
            out.push(b'}');
            i += 2;
        } else {
            out.extend_from_slice(b"\\x");
            push_hex(out, b);
            i += 1;
        }
        done = i;
    }
    out.extend_from_slice(&bytes[done..]);
}

/// `b` is a control character, or may start one (0xC2: C1 characters).
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == 0x7F || b == 0xC2
}

/// Append `b` as two lowercase hex digits.
fn push_hex(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xF)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> String {
        let mut out = Vec::new();
        escape_text(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_values_escape_control_characters_only() {
        assert_eq!(text("example.com"), "example.com");
        assert_eq!(text("a\"b\\c é ü 日本"), "a\"b\\c é ü 日本");
        assert_eq!(text("a\tb\x1b[31mc\n"), "a\\x09b\\x1b[31mc\\x0a");
        assert_eq!(text("\0\x7f"), "\\x00\\x7f");
        assert_eq!(text("x\u{80}y\u{9f}z\u{a0}"), "x\\u{80}y\\u{9f}z\u{a0}");
        // Every control character, one way or the other.
        for c in (0u32..0x20).chain(0x7F..0xA0) {
            let c = char::from_u32(c).unwrap();
            let want = if u32::from(c) < 0x80 {
                format!("\\x{:02x}", u32::from(c))
            } else {
                format!("\\u{{{:x}}}", u32::from(c))
            };
            assert_eq!(text(&c.to_string()), want);
        }
    }

    #[test]
    fn millis_print_as_the_f64_does_in_text_and_json() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut samples: Vec<u128> = vec![
            0,
            1,
            9,
            10,
            100,
            999,
            1000,
            1001,
            3172,
            3170,
            3100,
            3000,
            123_456_789,
            EXACT_MICROS - 1,
        ];
        for _ in 0..20_000 {
            // xorshift: deterministic, spread over every magnitude.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let magnitude = 10u128.pow(u32::try_from(seed % 16).unwrap());
            samples.push(u128::from(seed >> 4) % magnitude);
        }
        for micros in samples {
            let d = Duration::from_micros(u64::try_from(micros).unwrap());
            let ms = super::super::millis(d);
            let mut got = Vec::new();
            write_exact_millis(&mut got, micros);
            let got = String::from_utf8(got).unwrap();
            assert_eq!(got, format!("{ms:?}"), "{micros} µs, text");
            assert_eq!(
                got,
                serde_json::to_string(&ms).unwrap(),
                "{micros} µs, json"
            );
        }
    }

    #[test]
    fn integers_and_addresses() {
        let mut out = Vec::new();
        let powers = (0..20).map(|e| 10u64.pow(e));
        let edges = powers.flat_map(|p| [p - 1, p, p + 1]);
        for v in (0..=100_000).chain(edges).chain([u64::MAX - 1, u64::MAX]) {
            out.clear();
            write_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        for addr in [
            "10.0.0.7:51234",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:8080",
            "[2001:db8::1:0:0:1]:443",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            for format in [Format::Text, Format::Json] {
                let mut out = Vec::new();
                let mut line = Line {
                    out: &mut out,
                    format,
                    first: true,
                };
                line.addr("a", addr);
                let want = match format {
                    Format::Text => format!("a={addr}"),
                    Format::Json => format!(",\"a\":\"{addr}\""),
                };
                assert_eq!(String::from_utf8(out).unwrap(), want);
            }
        }
    }
}
