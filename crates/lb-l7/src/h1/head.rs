//! Message heads: parsed with `httparse` into `http` types without copying
//! (header values and the path are slices of the read buffer), and written
//! back out.

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
}

/// What a look at the read buffer found.
#[derive(Debug)]
pub(crate) enum Parsed<T> {
    /// A complete head, taken off the buffer.
    Complete(T),
    /// More bytes are needed.
    Partial,
    /// Not for the fast path (malformed, HTTP/1.0, a body, an upgrade,
    /// `Expect`, not origin-form): the buffer is left untouched for hyper.
    Handover,
    /// Taken off the buffer but not valid for `http` (answered 400).
    Invalid,
}

/// Where each header's name and value lie in the buffer.
#[derive(Clone, Copy, Default)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// The offset and length of `part` inside the buffer starting at `base`.
fn span_of(base: usize, part: &[u8]) -> (usize, usize) {
    (part.as_ptr() as usize - base, part.len())
}

fn slice(head: &Bytes, (at, len): (usize, usize)) -> Bytes {
    head.slice(at..at + len)
}

/// Parse a request head at the front of `buf`; a complete one the fast
/// path can serve is split off the buffer.
pub(crate) fn parse_request(buf: &mut BytesMut) -> Parsed<RequestHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Handover,
    };
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Handover;
    };
    let flags = framing::connection_flags(req.headers);
    if flags.upgrade || flags.has_upgrade_header || flags.expect {
        return Parsed::Handover;
    }
    if !matches!(framing::request_body(req.headers), Ok(BodyLen::Empty)) || !path.starts_with('/') {
        return Parsed::Handover;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Handover;
    };
    let base = buf.as_ptr() as usize;
    let path_span = span_of(base, path.as_bytes());
    let mut spans = [Span::default(); MAX_HEADERS];
    let n = req.headers.len();
    for (span, h) in spans.iter_mut().zip(req.headers.iter()) {
        span.name = span_of(base, h.name.as_bytes());
        span.value = span_of(base, h.value);
    }
    let head = buf.split_to(len).freeze();
    // httparse checked these bytes already; `http` is stricter only about
    // a few path characters hyper would refuse as well.
    let Ok(path) = PathAndQuery::from_maybe_shared(slice(&head, path_span)) else {
        return Parsed::Invalid;
    };
    let Some(map) = header_map(&head, &spans[..n]) else {
        return Parsed::Invalid;
    };
    let mut r = Request::new(());
    *r.method_mut() = method;
    *r.uri_mut() = Uri::from(path);
    *r.version_mut() = Version::HTTP_11;
    *r.headers_mut() = map;
    Parsed::Complete(RequestHead {
        parts: r.into_parts().0,
        close: flags.close,
        raw: head,
    })
}

/// The header fields at `spans` of `head`, sharing its memory.
fn header_map(head: &Bytes, spans: &[Span]) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(spans.len());
    for s in spans {
        let (at, len) = s.name;
        let name = HeaderName::from_bytes(head.get(at..at + len)?).ok()?;
        let value = HeaderValue::from_maybe_shared(slice(head, s.value)).ok()?;
        map.append(name, value);
    }
    Some(map)
}

/// A response head from a server.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: BodyLen,
    /// The server keeps the connection open after this response.
    pub(crate) keep_alive: bool,
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
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(buf) {
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
            // Interim (100 Continue, 103 Early Hints): not relayed.
            let _ = buf.split_to(len);
            continue;
        }
        let status = StatusCode::from_u16(code).map_err(|_| BadResponse("status code"))?;
        let flags: ConnectionFlags = framing::connection_flags(resp.headers);
        let body = framing::response_body(head_request, code, resp.headers)
            .map_err(|_| BadResponse("conflicting or invalid length headers"))?;
        let keep_alive = version == 1 && !flags.close && body != BodyLen::UntilClose;
        let base = buf.as_ptr() as usize;
        let mut spans = [Span::default(); MAX_HEADERS];
        let n = resp.headers.len();
        for (span, h) in spans.iter_mut().zip(resp.headers.iter()) {
            span.name = span_of(base, h.name.as_bytes());
            span.value = span_of(base, h.value);
        }
        let head = buf.split_to(len).freeze();
        let headers = header_map(&head, &spans[..n]).ok_or(BadResponse("invalid header field"))?;
        return Ok(Some(ResponseHead {
            status,
            headers,
            body,
            keep_alive,
        }));
    }
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
    status: StatusCode,
    headers: &HeaderMap,
    body: BodyLen,
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    write_fields(out, headers);
    if body == BodyLen::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
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
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
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
    fn heads_are_written_back() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        let mut out = Vec::new();
        write_request(&mut out, &Method::GET, "/p?q", &headers);
        assert_eq!(out, b"GET /p?q HTTP/1.1\r\nx-a: 1\r\n");
        out.clear();
        write_response(&mut out, StatusCode::OK, &headers, BodyLen::Chunked, true);
        assert_eq!(
            out,
            &b"HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"[..]
        );
    }
}
