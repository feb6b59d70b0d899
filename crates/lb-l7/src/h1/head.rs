//! Message heads: parsed with `httparse` into `http` types without copying
//! (header values and the path are slices of the read buffer), and written
//! back out.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, StatusCode, Uri, Version};

use super::framing::{self, BodyLen, ConnectionFlags};

/// Most header fields in one head (hyper's default is 100).
pub(crate) const MAX_HEADERS: usize = 128;

/// A request head the fast path serves.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Method, origin-form URI, version and headers.
    pub(crate) parts: Parts,
    /// `Connection: close` was asked for.
    pub(crate) close: bool,
    /// The head as received, for handing the connection to hyper after all.
    pub(crate) raw: Bytes,
    /// The length of the body that follows (`Content-Length`, at most
    /// [`MAX_BODY`]); 0 for none.
    pub(crate) body: u64,
}

/// Largest request body the fast path takes: it is read whole before the
/// request is sent, so that a retry can send it again. Larger bodies, and
/// chunked ones, are streamed by hyper.
pub(crate) const MAX_BODY: u64 = 64 * 1024;

/// What a look at the read buffer found.
#[derive(Debug)]
pub(crate) enum Parsed<T> {
    /// A complete head, taken off the buffer.
    Complete(T),
    /// More bytes are needed.
    Partial,
    /// Not for the fast path (malformed, HTTP/1.0, a large or chunked body, an upgrade,
    /// `Expect`, not origin-form): the buffer is left untouched for hyper.
    Handover,
    /// Taken off the buffer but not valid for `http` (answered 400).
    Invalid,
}

/// An uninitialised header array for httparse (free to make, unlike an
/// initialised one: 4 KiB of memset per parse).
type Slots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

fn slots<'b>() -> Slots<'b> {
    [MaybeUninit::uninit(); MAX_HEADERS]
}

/// Parse a request head at the front of `buf`; a complete one the fast
/// path can serve is split off the buffer.
pub(crate) fn parse_request(buf: &mut BytesMut) -> Parsed<RequestHead> {
    // First pass: is it complete, and is it for the fast path?
    let (len, close, body) = {
        let mut headers = slots();
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(buf, &mut headers) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(_) => return Parsed::Handover,
        };
        let (Some(path), Some(1)) = (req.path, req.version) else {
            return Parsed::Handover;
        };
        let flags = framing::connection_flags(req.headers);
        if flags.upgrade
            || flags.has_upgrade_header
            || flags.expect
            || !path.starts_with('/')
            || req.method == Some("CONNECT")
        {
            return Parsed::Handover;
        }
        let body = match framing::request_body(req.headers) {
            Ok(BodyLen::Empty) => 0,
            // Small enough to hold whole: it can be sent again on a retry.
            Ok(BodyLen::Length(n)) if n <= MAX_BODY => n,
            _ => return Parsed::Handover,
        };
        (len, flags.close, body)
    };
    // Second pass over the head alone, so that the `http` values can share
    // its memory.
    let head = buf.split_to(len).freeze();
    let mut headers = slots();
    let mut req = httparse::Request::new(&mut []);
    let (Ok(httparse::Status::Complete(_)), Some(method), Some(path)) = (
        req.parse_with_uninit_headers(&head, &mut headers),
        req.method,
        req.path,
    ) else {
        return Parsed::Invalid;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Invalid;
    };
    // httparse checked these bytes already; `http` is stricter only about
    // a few path characters hyper would refuse as well.
    let Ok(path) = PathAndQuery::from_maybe_shared(head.slice_ref(path.as_bytes())) else {
        return Parsed::Invalid;
    };
    let Some(map) = header_map(&head, req.headers) else {
        return Parsed::Invalid;
    };
    let mut r = Request::new(());
    *r.method_mut() = method;
    *r.uri_mut() = Uri::from(path);
    *r.version_mut() = Version::HTTP_11;
    *r.headers_mut() = map;
    Parsed::Complete(RequestHead {
        parts: r.into_parts().0,
        close,
        raw: head,
        body,
    })
}

/// Room for the fields the proxy adds (forwarding headers, rewrites).
const ADDED: usize = 6;

/// The fields `parsed` from `head`, sharing its memory.
fn header_map(head: &Bytes, parsed: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(parsed.len() + ADDED);
    for h in parsed {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value)).ok()?;
        map.append(name, value);
    }
    Some(map)
}

/// A response head from a server.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    /// The head as received (status line and fields).
    pub(crate) raw: Bytes,
    pub(crate) body: BodyLen,
    /// The server keeps the connection open after this response.
    pub(crate) keep_alive: bool,
    /// The server's `Content-Length` describes a body not sent (`HEAD`,
    /// 304) and is relayed as it is; otherwise the relay writes its own
    /// from the framing it uses (never next to chunked).
    pub(crate) server_length: bool,
}

/// A response head that cannot be relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid response from server: {0}")]
pub(crate) struct BadResponse(pub(crate) &'static str);

/// Parse the response head at the front of `buf` (skipping interim 1xx
/// answers); `Ok(None)` if more bytes are needed. `head_request` says the
/// request was `HEAD` (its response has no body).
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<ResponseHead>, BadResponse> {
    let config = httparse::ParserConfig::default();
    loop {
        let (len, status, body, keep_alive, server_length) = {
            let mut headers = slots();
            let mut resp = httparse::Response::new(&mut []);
            let len = match config.parse_response_with_uninit_headers(&mut resp, buf, &mut headers)
            {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(_) => return Err(BadResponse("malformed head")),
            };
            let (Some(code), Some(version)) = (resp.code, resp.version) else {
                return Err(BadResponse("malformed status line"));
            };
            if code == 101 {
                return Err(BadResponse("101 without an upgrade request"));
            }
            if (100..200).contains(&code) {
                (len, None, BodyLen::Empty, false, false)
            } else {
                let status = StatusCode::from_u16(code).map_err(|_| BadResponse("status code"))?;
                let flags: ConnectionFlags = framing::connection_flags(resp.headers);
                let body = framing::response_body(head_request, code, resp.headers)
                    .map_err(|_| BadResponse("conflicting or invalid length headers"))?;
                let keep_alive = version == 1 && !flags.close && body != BodyLen::UntilClose;
                let server_length = head_request || code == 204 || code == 304;
                (len, Some(status), body, keep_alive, server_length)
            }
        };
        let head = buf.split_to(len).freeze();
        let Some(status) = status else {
            // Interim (100 Continue, 103 Early Hints): not relayed.
            continue;
        };
        return Ok(Some(ResponseHead {
            status,
            raw: head,
            body,
            keep_alive,
            server_length,
        }));
    }
}

/// Parse a response head already known to be complete and valid.
fn reparse_response<'h, 'b>(
    raw: &'b [u8],
    headers: &'h mut Slots<'b>,
) -> Option<httparse::Response<'h, 'b>> {
    let mut resp = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, raw, headers)
    {
        Ok(httparse::Status::Complete(_)) => Some(resp),
        _ => None,
    }
}

/// The fields of a response head from [`parse_response`], as a map sharing
/// its memory (for routes that rewrite response headers).
pub(crate) fn response_fields(raw: &Bytes) -> Option<HeaderMap> {
    let mut slots = slots();
    let resp = reparse_response(raw, &mut slots)?;
    header_map(raw, resp.headers)
}

/// Whether a response field is one of the fixed hop-by-hop names (RFC 9110
/// §7.6.1); by length first, since most fields are none of them.
fn fixed_hop_by_hop(name: &str) -> bool {
    let is = |fixed: &str| fixed.eq_ignore_ascii_case(name);
    match name.len() {
        2 => is("te"),
        7 => is("trailer") || is("upgrade"),
        10 => is("connection") || is("keep-alive"),
        16 => is("proxy-connection"),
        17 => is("transfer-encoding"),
        _ => false,
    }
}

/// Whether a `Connection` field among `fields` names `name`.
fn named_by_connection(name: &str, fields: &[httparse::Header<'_>]) -> bool {
    fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("connection"))
        .flat_map(|f| f.value.split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
}

/// Write the client's response head straight from the server's (`raw`,
/// from [`parse_response`]): our status line, the server's end-to-end
/// fields as they were, `extra` (a sticky cookie), then the framing the
/// relay uses and `Connection: close` when `close`. `false` if `raw` does
/// not parse (never for a head from [`parse_response`]).
pub(crate) fn write_response_raw(
    out: &mut Vec<u8>,
    head: &ResponseHead,
    extra: Option<(&HeaderName, &HeaderValue)>,
    close: bool,
) -> bool {
    let mut slots = slots();
    let Some(resp) = reparse_response(&head.raw, &mut slots) else {
        return false;
    };
    write_status(out, head.status);
    let connection = resp
        .headers
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case("connection"));
    for f in resp.headers.iter() {
        if fixed_hop_by_hop(f.name)
            || (!head.server_length && f.name.eq_ignore_ascii_case("content-length"))
            || (connection && named_by_connection(f.name, resp.headers))
        {
            continue;
        }
        out.extend_from_slice(f.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(f.value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some((name, value)) = extra {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    write_framing(out, head, close);
    true
}

/// Append `n` in decimal (without `core::fmt` and its allocation).
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10 < 10`: the cast is exact.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_status(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The framing the relay uses: `Content-Length` (unless the server's is
/// relayed), or chunked; then `Connection: close` when `close`.
fn write_framing(out: &mut Vec<u8>, head: &ResponseHead, close: bool) {
    match head.body {
        BodyLen::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        BodyLen::Length(n) if !head.server_length => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyLen::Empty if !head.server_length => out.extend_from_slice(b"content-length: 0\r\n"),
        _ => {}
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Append `name: value\r\n` for every field of `headers`.
fn write_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Write a request head, without its final empty line (the caller may add
/// a `Host` first).
pub(crate) fn write_request(out: &mut Vec<u8>, method: &Method, path: &str, headers: &HeaderMap) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_fields(out, headers);
}

/// Write a response head: status line, `headers`, the framing the relay
/// uses (`body`) and `Connection: close` when `close`.
pub(crate) fn write_response(
    out: &mut Vec<u8>,
    head: &ResponseHead,
    headers: &HeaderMap,
    close: bool,
) {
    write_status(out, head.status);
    for (name, value) in headers {
        if name == http::header::CONTENT_LENGTH && !head.server_length {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    write_framing(out, head, close);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> (Parsed<RequestHead>, BytesMut) {
        let mut buf = BytesMut::from(bytes);
        let p = parse_request(&mut buf);
        (p, buf)
    }

    #[test]
    fn a_plain_get_is_taken_off_the_buffer() {
        let (p, rest) =
            parse(b"GET /a?b=1 HTTP/1.1\r\nHost: x.test\r\nX-A: 1\r\nX-A: 2\r\n\r\nGET /next");
        let Parsed::Complete(head) = p else {
            panic!("{p:?}")
        };
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.parts.uri.path(), "/a");
        assert_eq!(head.parts.uri.query(), Some("b=1"));
        assert_eq!(head.parts.headers["host"], "x.test");
        assert_eq!(head.parts.headers.get_all("x-a").iter().count(), 2);
        assert!(!head.close);
        assert_eq!(&rest[..], b"GET /next");
    }

    #[test]
    fn what_the_fast_path_does_not_serve_is_left_for_hyper() {
        for raw in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            let (p, rest) = parse(raw);
            assert!(
                matches!(p, Parsed::Handover),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
            assert_eq!(&rest[..], raw, "the buffer is untouched");
        }
    }

    #[test]
    fn a_small_body_is_left_for_the_fast_path_to_read() {
        let (p, rest) = parse(b"POST /f HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert!(matches!(p, Parsed::Complete(h) if h.body == 3));
        assert_eq!(&rest[..], b"abc");
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost:").0,
            Parsed::Partial
        ));
    }

    #[test]
    fn connection_close_is_noted() {
        let (p, _) = parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(matches!(p, Parsed::Complete(h) if h.close));
    }

    #[test]
    fn interim_answers_are_skipped() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..],
        );
        let head = parse_response(&mut buf, false).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.body, BodyLen::Length(2));
        assert!(head.keep_alive);
        assert_eq!(&buf[..], b"hi");
    }

    #[test]
    fn a_response_without_length_is_read_until_close() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\n\r\nhi"[..]);
        let head = parse_response(&mut buf, false).unwrap().unwrap();
        assert_eq!(head.body, BodyLen::UntilClose);
        assert!(!head.keep_alive);
    }

    #[test]
    fn decimals_are_written_whole() {
        for n in [0, 7, 10, 1024, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn heads_are_written_back() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        let mut out = Vec::new();
        write_request(&mut out, &Method::GET, "/p?q", &headers);
        assert_eq!(out, b"GET /p?q HTTP/1.1\r\nx-a: 1\r\n");
        out.clear();
        let head = ResponseHead {
            status: StatusCode::OK,
            raw: Bytes::new(),
            body: BodyLen::Length(5),
            keep_alive: true,
            server_length: false,
        };
        headers.insert("content-length", HeaderValue::from_static("7"));
        write_response(&mut out, &head, &headers, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 5\r\nconnection: close\r\n\r\n",
            "the length written is the one the relay uses"
        );
    }

    #[test]
    fn a_raw_response_head_loses_its_hop_by_hop_fields() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nServer: s\r\nConnection: keep-alive, X-Foo\r\nX-Foo: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nX-Bar: 2\r\n\r\n"[..],
        );
        let head = parse_response(&mut buf, false).unwrap().unwrap();
        assert_eq!(head.body, BodyLen::Chunked);
        let cookie = HeaderValue::from_static("lb=1");
        let mut out = Vec::new();
        assert!(write_response_raw(
            &mut out,
            &head,
            Some((&http::header::SET_COOKIE, &cookie)),
            false,
        ));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: s\r\nX-Bar: 2\r\nset-cookie: lb=1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }
}
