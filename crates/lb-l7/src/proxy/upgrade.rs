//! `Upgrade` (WebSocket and others): after the server's 101 both
//! connections are handed over by hyper and bytes are copied both ways
//! until either side closes.

use http::header::{CONNECTION, UPGRADE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use lb_balance::InFlight;

/// A client's upgrade request: the protocol asked for and hyper's handle on
/// the client connection.
pub(crate) struct ClientUpgrade {
    pub(crate) protocol: HeaderValue,
    pub(crate) on_upgrade: OnUpgrade,
}

/// Whether the request asks for an upgrade (`Connection: upgrade` and an
/// `Upgrade` header); if so, take hyper's handle on the client connection.
pub(crate) fn take_client_upgrade(parts: &mut Parts) -> Option<ClientUpgrade> {
    let protocol = parts.headers.get(UPGRADE)?.clone();
    if !connection_has_upgrade(&parts.headers) {
        return None;
    }
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    Some(ClientUpgrade {
        protocol,
        on_upgrade,
    })
}

fn connection_has_upgrade(headers: &HeaderMap) -> bool {
    headers.get_all(CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
    })
}

/// Put back the two headers an upgrade needs after hop-by-hop stripping.
pub(crate) fn restore_headers(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
}

/// Copy bytes both ways once both sides are upgraded; `guard` keeps the
/// tunnel counted on the server until it closes.
pub(crate) async fn tunnel(client: OnUpgrade, server: OnUpgrade, guard: InFlight) {
    match tokio::try_join!(client, server) {
        Ok((client, server)) => {
            let (mut client, mut server) = (TokioIo::new(client), TokioIo::new(server));
            match tokio::io::copy_bidirectional(&mut client, &mut server).await {
                Ok((up, down)) => tracing::debug!(up, down, "upgraded connection closed"),
                Err(error) => tracing::debug!(%error, "upgraded connection failed"),
            }
        }
        Err(error) => tracing::debug!(%error, "upgrade failed"),
    }
    guard.finish_without_latency();
}
