//! Hop-by-hop header stripping (RFC 9110 §7.6.1).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `keep-alive` (not among `http`'s standard names).
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
/// `proxy-connection`, a pre-standard `Connection` still sent by some clients.
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// How many `Connection` field lines are handled without allocating; more spill to a `Vec`.
const INLINE_CONNECTION_LINES: usize = 4;

/// Removes the hop-by-hop headers of a message a proxy is about to forward.
///
/// Removed: `Connection` and every header it names (`Connection: close, x-foo` removes
/// `x-foo`), `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding` and
/// `Upgrade`. Two exceptions:
/// - `TE: trailers` is kept (as exactly `te: trailers`), because HTTP/2 and gRPC servers use it
///   to know the client accepts trailers;
/// - `Host` is never removed, even when `Connection` names it: the proxy keeps `Host`.
///
/// The request or response is changed in place. The caller that tunnels an `Upgrade` re-adds
/// `Connection: upgrade` and `Upgrade` itself (as [`HopByHopLayer`](super::HopByHopLayer) does).
/// Allocates nothing unless the message has more than four `Connection` field lines.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
///
/// let mut h = HeaderMap::new();
/// h.insert("connection", HeaderValue::from_static("keep-alive, x-secret"));
/// h.insert("x-secret", HeaderValue::from_static("1"));
/// h.insert("te", HeaderValue::from_static("trailers, deflate"));
/// h.insert("x-kept", HeaderValue::from_static("1"));
/// lb_l7::headers::strip_hop_by_hop(&mut h);
/// assert!(!h.contains_key("connection") && !h.contains_key("x-secret"));
/// assert_eq!(h["te"], "trailers");
/// assert_eq!(h["x-kept"], "1");
/// ```
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of these: one pass over the names (cheap comparisons of
    // standard-header tags) spares the seven hashed removals below.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // Before `Connection` is processed: senders of `TE` must also name it in `Connection`.
    let trailers = wants_trailers(headers);
    remove_connection_and_named(headers);
    // Headers that describe one connection, never the message. Names are pre-built so no
    // removal has to parse one.
    for name in [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
    ] {
        headers.remove(name);
    }
    if trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Whether `name` is one of the fixed hop-by-hop headers (`Connection` included; the headers it
/// names are only looked for when `Connection` is present).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// [`strip_hop_by_hop`], but when `keep_upgrade` is set and the message asks to switch
/// protocols (`Connection: upgrade` and an `Upgrade` value), it then carries exactly
/// `connection: upgrade` and that `Upgrade` value, so the next hop can switch too. An `h2c`
/// upgrade is never kept: it only concerns the client's own connection.
pub(crate) fn strip_keeping_upgrade(headers: &mut HeaderMap, keep_upgrade: bool) {
    let upgrade = if keep_upgrade {
        upgrade_of(headers).cloned()
    } else {
        None
    };
    strip_hop_by_hop(headers);
    if let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
}

/// The `Upgrade` value when `Connection` carries the `upgrade` token and the protocol is not
/// `h2c`: the message asks to switch (or, for a 101 response, switches) protocols.
pub(crate) fn upgrade_of(headers: &HeaderMap) -> Option<&HeaderValue> {
    let upgrade = headers.get(header::UPGRADE)?;
    let h2c = tokens(upgrade).any(|t| t.eq_ignore_ascii_case("h2c"));
    (!h2c && has_token(headers, header::CONNECTION, "upgrade")).then_some(upgrade)
}

/// Removes `Connection` and the headers its tokens name.
fn remove_connection_and_named(headers: &mut HeaderMap) {
    let mut inline: [Option<HeaderValue>; INLINE_CONNECTION_LINES] = Default::default();
    let mut spill = Vec::new();
    if let header::Entry::Occupied(entry) = headers.entry(header::CONNECTION) {
        let (_, values) = entry.remove_entry_mult();
        for (i, value) in values.enumerate() {
            match inline.get_mut(i) {
                Some(slot) => *slot = Some(value),
                None => spill.push(value),
            }
        }
    }
    for value in inline.iter().flatten().chain(spill.iter()) {
        for token in tokens(value) {
            if !token.eq_ignore_ascii_case("host") {
                headers.remove(token);
            }
        }
    }
}

/// Whether any `TE` line lists the `trailers` token.
fn wants_trailers(headers: &HeaderMap) -> bool {
    has_token(headers, header::TE, "trailers")
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, want: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| tokens(v).any(|t| t.eq_ignore_ascii_case(want)))
}

/// The comma-separated tokens of a list header, trimmed, parameters (`;q=`) dropped; values
/// that are not UTF-8 yield nothing.
fn tokens(value: &HeaderValue) -> impl Iterator<Item = &str> {
    let s = std::str::from_utf8(value.as_bytes()).unwrap_or("");
    s.split(',').filter_map(|t| {
        let t = t.split(';').next().unwrap_or("").trim();
        (!t.is_empty()).then_some(t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_connection_lines_spill_and_are_all_honoured() {
        let mut h = HeaderMap::new();
        for i in 0..6 {
            h.append(
                header::CONNECTION,
                HeaderValue::from_str(&format!("x-{i}")).unwrap(),
            );
            h.insert(
                format!("x-{i}").parse::<header::HeaderName>().unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        strip_hop_by_hop(&mut h);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn upgrade_needs_the_connection_token() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(upgrade_of(&h).is_none());
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert_eq!(upgrade_of(&h).unwrap(), "websocket");
    }
}
