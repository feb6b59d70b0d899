//! The admin HTTP API (SPEC §5) on `[admin].bind`: health probes, `/status`,
//! `/metrics`, the dashboard, draining servers and reload.
//!
//! A plain hyper HTTP/1.1 server. Reads go to the current runtime snapshot
//! (`Shared::runtime`) and the endpoints' atomics; writes are
//! `EndpointState::set_draining` and `Control::reload`. POST endpoints need
//! `Authorization: Bearer <token>` when `[admin].token` is set.

mod response;
mod routes;
mod servers;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::state::{Control, Shared};

/// How long the admin server waits for open admin connections at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A client must send a request head within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What request handlers share.
pub(crate) struct Ctx {
    shared: Arc<Shared>,
    control: Arc<dyn Control>,
}

/// Refuse an admin listener reachable from other hosts without a token: the
/// POST endpoints change traffic and must not be open to the network.
///
/// # Errors
/// `bind` is not a loopback address and `token` is `None` or empty.
pub(crate) fn check_bind(bind: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if bind.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(format!(
            "admin.bind: {bind} is not a loopback address and admin.token is not set; \
             set a token or bind to 127.0.0.1 / [::1]"
        ))
    }
}

/// Serve the admin API on `listener` until `shutdown` is cancelled, then
/// finish open admin requests (up to 5 s) and return.
///
/// Refuses to serve (logs an error and returns at once) when the listener is
/// not on loopback and no token is set; callers should also check with
/// [`check_bind`] before binding, to exit with a configuration error.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    control: Arc<dyn Control>,
    shutdown: CancellationToken,
) {
    let local = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            tracing::error!(%error, "admin: cannot read the listener address");
            return;
        }
    };
    if let Err(error) = check_bind(local, shared.admin_token.as_deref()) {
        tracing::error!(%error, "admin: refusing to serve");
        return;
    }
    tracing::info!(addr = %local, "admin API listening");
    let ctx = Arc::new(Ctx { shared, control });
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "admin: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ctx = Arc::clone(&ctx);
        let service = service_fn(move |req| routes::handle(Arc::clone(&ctx), req));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, %peer, "admin connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("admin: closing connections still open after the grace period");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_bind_needs_a_token() {
        let public: SocketAddr = "0.0.0.0:9901".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9901".parse().unwrap();
        let local6: SocketAddr = "[::1]:9901".parse().unwrap();
        assert!(check_bind(public, None).is_err());
        assert!(check_bind(public, Some("")).is_err());
        assert!(check_bind(public, Some("s3cret")).is_ok());
        assert!(check_bind(local, None).is_ok());
        assert!(check_bind(local6, None).is_ok());
    }
}
