//! Message body length decisions (RFC 9112 §6.3) and connection-level header
//! facts, for HTTP/1.1 messages parsed by `httparse`.

use std::fmt;

use httparse::Header;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLen {
    /// No body.
    Empty,
    /// Exactly this many bytes (Content-Length; 0 is returned as `Empty`).
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Until the server closes the connection (responses only).
    UntilClose,
}

/// Framing that cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramingError(&'static str);

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "untrusted message framing: {}", self.0)
    }
}

impl std::error::Error for FramingError {}

/// The body length of a response to a request whose method was HEAD (`head`),
/// from its status and headers.
///
/// # Errors
/// A [`FramingError`] when, without Transfer-Encoding, the Content-Length
/// values are malformed, differ, or overflow `u64`.
pub(crate) fn response_body(
    head: bool,
    status: u16,
    headers: &[Header<'_>],
) -> Result<BodyLen, FramingError> {
    if head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(BodyLen::Empty);
    }
    if has(headers, "transfer-encoding") {
        return Ok(if final_coding_is_chunked(headers) {
            BodyLen::Chunked
        } else {
            BodyLen::UntilClose
        });
    }
    Ok(content_length(headers)?.map_or(BodyLen::UntilClose, sized))
}

/// The body length of a request, from its headers: `Empty` if neither header
/// is present.
///
/// # Errors
/// A [`FramingError`] when both Transfer-Encoding and Content-Length are
/// present, when Transfer-Encoding does not end in a single `chunked`, or
/// when the Content-Length values are malformed, differ, or overflow `u64`.
pub(crate) fn request_body(headers: &[Header<'_>]) -> Result<BodyLen, FramingError> {
    if has(headers, "transfer-encoding") {
        if has(headers, "content-length") {
            return Err(FramingError(
                "request has both Transfer-Encoding and Content-Length",
            ));
        }
        let chunked = codings(headers).filter(|c| is_chunked(c)).count();
        return if chunked == 1 && final_coding_is_chunked(headers) {
            Ok(BodyLen::Chunked)
        } else {
            Err(FramingError(
                "request Transfer-Encoding does not end in a single chunked",
            ))
        };
    }
    Ok(content_length(headers)?.map_or(BodyLen::Empty, sized))
}

/// Connection-level facts about a message's headers, gathered in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent yes/no facts, each read on its own"
)]
pub(crate) struct ConnectionFlags {
    /// `Connection` lists `close`.
    pub(crate) close: bool,
    /// `Connection` lists `keep-alive`.
    pub(crate) keep_alive: bool,
    /// `Connection` lists `upgrade`.
    pub(crate) upgrade: bool,
    /// An `Upgrade` header is present.
    pub(crate) has_upgrade_header: bool,
    /// An `Expect` header is present.
    pub(crate) expect: bool,
    /// A `Transfer-Encoding` header is present.
    pub(crate) has_te: bool,
    /// A `Content-Length` header is present.
    pub(crate) has_cl: bool,
}

/// Scan `Connection` (comma-separated tokens, case-insensitive, any number of
/// Connection headers), and note presence of Upgrade, Expect,
/// Transfer-Encoding, Content-Length headers (header names are
/// case-insensitive).
#[must_use]
pub(crate) fn connection_flags(headers: &[Header<'_>]) -> ConnectionFlags {
    let mut flags = ConnectionFlags::default();
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in list(header.value) {
                flags.close |= token.eq_ignore_ascii_case(b"close");
                flags.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                flags.upgrade |= token.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            flags.has_upgrade_header = true;
        } else if name.eq_ignore_ascii_case("expect") {
            flags.expect = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            flags.has_te = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            flags.has_cl = true;
        }
    }
    flags
}

/// `Length(n)`, or `Empty` for 0.
fn sized(n: u64) -> BodyLen {
    if n == 0 {
        BodyLen::Empty
    } else {
        BodyLen::Length(n)
    }
}

/// Whether a header named `name` (any case) is present.
fn has(headers: &[Header<'_>], name: &str) -> bool {
    headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

/// Whether a transfer coding is `chunked` (any case).
fn is_chunked(coding: &[u8]) -> bool {
    coding.eq_ignore_ascii_case(b"chunked")
}

/// Whether the last transfer coding across all Transfer-Encoding headers is `chunked`.
fn final_coding_is_chunked(headers: &[Header<'_>]) -> bool {
    codings(headers).last().is_some_and(is_chunked)
}

/// The transfer codings of all Transfer-Encoding headers, in order.
fn codings<'a>(headers: &'a [Header<'a>]) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|h| list(h.value))
}

/// The non-empty elements of a comma-separated list, trimmed of spaces and tabs.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// `s` without leading and trailing spaces and tabs.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The one value of all Content-Length headers and of every element in them,
/// or `None` without such headers.
fn content_length(headers: &[Header<'_>]) -> Result<Option<u64>, FramingError> {
    let mut found = None;
    for header in headers {
        if !header.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for item in header.value.split(|&b| b == b',') {
            let n = decimal(trim_ows(item))?;
            if found.is_some_and(|f| f != n) {
                return Err(FramingError("differing Content-Length values"));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// The value of `1*DIGIT`, if it fits a `u64`.
fn decimal(digits: &[u8]) -> Result<u64, FramingError> {
    if digits.is_empty() {
        return Err(FramingError("empty Content-Length value"));
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(FramingError("Content-Length is not a decimal number"));
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(FramingError("Content-Length too large"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers from name/value pairs.
    fn hs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<Header<'a>> {
        pairs
            .iter()
            .map(|&(name, value)| Header {
                name,
                value: value.as_bytes(),
            })
            .collect()
    }

    fn req(pairs: &[(&str, &str)]) -> Result<BodyLen, FramingError> {
        request_body(&hs(pairs))
    }

    fn resp(status: u16, pairs: &[(&str, &str)]) -> Result<BodyLen, FramingError> {
        response_body(false, status, &hs(pairs))
    }

    #[test]
    fn response_without_body() {
        let te = [("Transfer-Encoding", "chunked")];
        let cl = [("Content-Length", "10")];
        for status in [100, 101, 103, 199, 204, 304] {
            assert_eq!(resp(status, &te), Ok(BodyLen::Empty));
            assert_eq!(resp(status, &cl), Ok(BodyLen::Empty));
            assert_eq!(resp(status, &[("Content-Length", "x")]), Ok(BodyLen::Empty));
        }
        assert_eq!(response_body(true, 200, &hs(&te)), Ok(BodyLen::Empty));
        assert_eq!(response_body(true, 200, &hs(&cl)), Ok(BodyLen::Empty));
        assert_eq!(
            response_body(true, 200, &hs(&[("content-length", "a")])),
            Ok(BodyLen::Empty)
        );
    }

    #[test]
    fn response_transfer_encoding() {
        assert_eq!(
            resp(200, &[("Transfer-Encoding", "chunked")]),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            resp(200, &[("transfer-encoding", "CHUNKED")]),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            resp(200, &[("Transfer-Encoding", "gzip, chunked")]),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            resp(
                200,
                &[
                    ("Transfer-Encoding", "gzip"),
                    ("TRANSFER-ENCODING", " Chunked ")
                ]
            ),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            resp(200, &[("Transfer-Encoding", "chunked, gzip")]),
            Ok(BodyLen::UntilClose)
        );
        assert_eq!(
            resp(
                200,
                &[
                    ("Transfer-Encoding", "chunked"),
                    ("Transfer-Encoding", "gzip")
                ]
            ),
            Ok(BodyLen::UntilClose)
        );
        assert_eq!(
            resp(200, &[("Transfer-Encoding", "")]),
            Ok(BodyLen::UntilClose)
        );
        assert_eq!(
            resp(500, &[("Transfer-Encoding", "gzip")]),
            Ok(BodyLen::UntilClose)
        );
        // Content-Length is ignored, even when malformed, once TE is present.
        assert_eq!(
            resp(
                200,
                &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]
            ),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            resp(
                200,
                &[("Content-Length", "x"), ("Transfer-Encoding", "gzip")]
            ),
            Ok(BodyLen::UntilClose)
        );
    }

    #[test]
    fn response_content_length() {
        assert_eq!(
            resp(200, &[("Content-Length", "5")]),
            Ok(BodyLen::Length(5))
        );
        assert_eq!(resp(404, &[("content-LENGTH", "0")]), Ok(BodyLen::Empty));
        assert_eq!(
            resp(200, &[("Content-Length", "5, 5")]),
            Ok(BodyLen::Length(5))
        );
        assert_eq!(
            resp(200, &[("Content-Length", "5"), ("content-length", "5")]),
            Ok(BodyLen::Length(5))
        );
        assert_eq!(
            resp(200, &[("Content-Length", "5, 6")]).map_err(|_| ()),
            Err(())
        );
        assert_eq!(
            resp(200, &[("Content-Length", "5"), ("Content-Length", "6")]).map_err(|_| ()),
            Err(())
        );
        assert_eq!(
            resp(200, &[("Content-Length", "+5")]).map_err(|_| ()),
            Err(())
        );
        assert_eq!(resp(200, &[]), Ok(BodyLen::UntilClose));
        assert_eq!(
            resp(200, &[("Content-Type", "text/plain")]),
            Ok(BodyLen::UntilClose)
        );
    }

    #[test]
    fn content_length_values() {
        let cl = |v| req(&[("Content-Length", v)]);
        assert_eq!(cl("0"), Ok(BodyLen::Empty));
        assert_eq!(cl("000"), Ok(BodyLen::Empty));
        assert_eq!(cl("42"), Ok(BodyLen::Length(42)));
        assert_eq!(cl("0042"), Ok(BodyLen::Length(42)));
        assert_eq!(cl("42,42"), Ok(BodyLen::Length(42)));
        assert_eq!(cl("42 ,\t42 , 42"), Ok(BodyLen::Length(42)));
        assert_eq!(cl("18446744073709551615"), Ok(BodyLen::Length(u64::MAX)));
        for bad in [
            "",
            " ",
            "+5",
            "-5",
            " 5 x",
            "5a",
            "a5",
            "5 5",
            "5.0",
            "0x5",
            "5,",
            ",5",
            "5,,5",
            "5, 6",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            assert!(cl(bad).is_err(), "accepted {bad:?}");
        }
        // httparse trims the value itself; trimming here is harmless.
        assert_eq!(cl(" 5 "), Ok(BodyLen::Length(5)));
    }

    #[test]
    fn request_transfer_encoding() {
        assert_eq!(
            req(&[("Transfer-Encoding", "chunked")]),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            req(&[("TRANSFER-encoding", "ChUnKeD")]),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            req(&[("Transfer-Encoding", "gzip,chunked")]),
            Ok(BodyLen::Chunked)
        );
        assert_eq!(
            req(&[
                ("Transfer-Encoding", "gzip"),
                ("Transfer-Encoding", "chunked")
            ]),
            Ok(BodyLen::Chunked)
        );
        for bad in [
            &[("Transfer-Encoding", "gzip")][..],
            &[("Transfer-Encoding", "")],
            &[("Transfer-Encoding", "chunked, gzip")],
            &[("Transfer-Encoding", "chunked, chunked")],
            &[
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "chunked"),
            ],
            &[
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "gzip"),
            ],
            &[("Transfer-Encoding", "chunked;x=1")],
            &[("Transfer-Encoding", "xchunked")],
            &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
            &[("content-length", "0"), ("transfer-encoding", "chunked")],
        ] {
            assert!(req(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn request_content_length_and_none() {
        assert_eq!(req(&[]), Ok(BodyLen::Empty));
        assert_eq!(req(&[("Host", "a")]), Ok(BodyLen::Empty));
        assert_eq!(req(&[("Content-Length", "7")]), Ok(BodyLen::Length(7)));
        assert_eq!(
            req(&[("Content-Length", "7"), ("Content-Length", "7, 7")]),
            Ok(BodyLen::Length(7))
        );
        assert!(req(&[("Content-Length", "7"), ("Content-Length", "8")]).is_err());
        assert!(req(&[("Content-Length", "7"), ("Content-Length", "")]).is_err());
    }

    #[test]
    fn connection_flags_gathered() {
        assert_eq!(connection_flags(&[]), ConnectionFlags::default());
        let flags = connection_flags(&hs(&[
            ("connection", "Keep-Alive"),
            ("CONNECTION", " Upgrade ,, x-foo"),
            ("Upgrade", "websocket"),
            ("EXPECT", "100-continue"),
            ("Transfer-Encoding", "chunked"),
            ("content-length", "1"),
        ]));
        assert_eq!(
            flags,
            ConnectionFlags {
                close: false,
                keep_alive: true,
                upgrade: true,
                has_upgrade_header: true,
                expect: true,
                has_te: true,
                has_cl: true,
            }
        );
        let flags = connection_flags(&hs(&[("Connection", "foo,CLOSE")]));
        assert_eq!(
            flags,
            ConnectionFlags {
                close: true,
                ..ConnectionFlags::default()
            }
        );
        // Whole tokens only.
        let flags = connection_flags(&hs(&[("Connection", "closed, keep-alive-ish, upgrades")]));
        assert_eq!(flags, ConnectionFlags::default());
        // Tokens in other headers do not count.
        let flags = connection_flags(&hs(&[("Proxy-Connection", "close"), ("X-Upgrade", "h2c")]));
        assert_eq!(flags, ConnectionFlags::default());
    }

    #[test]
    fn errors_display_reason() {
        let e = req(&[("Content-Length", "1"), ("Content-Length", "2")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "untrusted message framing: differing Content-Length values"
        );
    }
}
