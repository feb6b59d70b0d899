//! Response builders, bearer-token check and path decoding for the admin API.

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

/// The admin API's response type.
pub(crate) type Resp = Response<Full<Bytes>>;

/// A response with a body and content type.
pub(crate) fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Everything here is live state: never cache it.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A short plain-text answer (a newline is added).
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Resp {
    let mut body = body.into();
    body.push('\n');
    with_body(status, "text/plain; charset=utf-8", body)
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, value: &impl serde::Serialize) -> Resp {
    match serde_json::to_vec_pretty(value) {
        Ok(mut body) => {
            body.push(b'\n');
            with_body(status, "application/json", body)
        }
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {error}"),
        ),
    }
}

/// 405 with the allowed methods.
pub(crate) fn method_not_allowed(allow: &'static str) -> Resp {
    let mut resp = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here; use {allow}"),
    );
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

/// 401 asking for the bearer token.
pub(crate) fn unauthorized() -> Resp {
    let mut resp = text(
        StatusCode::UNAUTHORIZED,
        "this endpoint needs the admin token: Authorization: Bearer <admin.token>",
    );
    resp.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"lb-admin\""),
    );
    resp
}

/// Whether the request carries `Authorization: Bearer <token>` (compared in
/// constant time), or no token is required.
pub(crate) fn authorized(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let Some(given) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
    else {
        return false;
    };
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decode `%XX` escapes in a path segment (e.g. `%5B::1%5D%3A80`).
/// `None` if an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(segment: &str) -> Option<String> {
    if !segment.contains('%') {
        return Some(segment.to_owned());
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_is_checked() {
        let mut headers = HeaderMap::new();
        assert!(authorized(&headers, None));
        assert!(!authorized(&headers, Some("s3cret")));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer nope"));
        assert!(!authorized(&headers, Some("s3cret")));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic s3cret"));
        assert!(!authorized(&headers, Some("s3cret")));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer s3cret"));
        assert!(authorized(&headers, Some("s3cret")));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("127.0.0.1:80").as_deref(),
            Some("127.0.0.1:80")
        );
        assert_eq!(
            percent_decode("%5B::1%5D%3A80").as_deref(),
            Some("[::1]:80")
        );
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
