//! The running server: start, serve until a signal, shut down gracefully.
//!
//! Shutdown (`SIGTERM`/`SIGINT`): `/ready` turns 503, every listener stops
//! accepting, HTTP connections finish their in-flight requests and close
//! when idle, TCP connections run to their end; the process waits for all of
//! them up to `server.shutdown_timeout` (a second signal cuts it short), then
//! exits 0. The admin API answers until the very end.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use lb_health::events::EventSink;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::listeners::Env;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::reload::{Core, Ctx, Source};
use crate::signals::{Request, Signals};
use crate::state::Control;

/// Why the server could not run.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The configuration is unusable: exit 2.
    Config(Vec<String>),
    /// A runtime failure (a port in use): exit 1.
    Runtime(Vec<String>),
}

/// The admin listener's settings.
#[derive(Debug, Clone)]
pub(crate) struct AdminPlan {
    /// `admin.bind`.
    pub(crate) bind: SocketAddr,
    /// `admin.token`.
    pub(crate) token: Option<String>,
}

/// Something to print once everything is bound (the demo's hints).
pub(crate) type OnReady = Box<dyn FnOnce(&ReadyInfo) + Send>;

/// Where things ended up listening.
#[derive(Debug)]
pub(crate) struct ReadyInfo {
    /// Listener name and bound address.
    pub(crate) listeners: Vec<(String, SocketAddr)>,
    /// The admin address, if any.
    pub(crate) admin: Option<SocketAddr>,
}

/// Run until `SIGTERM`/`SIGINT`, reloading on `SIGHUP`.
pub(crate) async fn run(
    source: Source,
    plan: Plan,
    admin: Option<AdminPlan>,
    on_ready: Option<OnReady>,
) -> Result<(), Failure> {
    let mut signals =
        Signals::new().map_err(|e| Failure::Runtime(vec![format!("signals: {e}")]))?;
    let ctx = Ctx {
        env: Env {
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            metrics: Arc::new(Metrics::new()),
        },
        events: EventSink::new(),
    };

    // The admin port is bound without SO_REUSEPORT: two instances must not
    // share an admin API silently.
    let admin_listener = match &admin {
        Some(a) => {
            crate::admin::check_bind(a.bind, a.token.as_deref())
                .map_err(|e| Failure::Config(vec![e]))?;
            let l = tokio::net::TcpListener::bind(a.bind).await.map_err(|e| {
                Failure::Runtime(vec![format!("cannot bind admin on {}: {e}", a.bind)])
            })?;
            Some(l)
        }
        None => None,
    };

    let token = admin.and_then(|a| a.token);
    let core = Core::start(source, plan, ctx.clone(), token)
        .await
        .map_err(|r| {
            if r.bind_failed {
                Failure::Runtime(r.errors)
            } else {
                Failure::Config(r.errors)
            }
        })?;
    let shared = Arc::clone(core.shared());

    let admin_stop = CancellationToken::new();
    let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
    if let Some(listener) = admin_listener {
        let control: Arc<dyn Control> = Arc::clone(&core) as Arc<dyn Control>;
        tokio::spawn(crate::admin::serve(
            listener,
            Arc::clone(&shared),
            control,
            admin_stop.clone(),
        ));
    }
    shared.ready.store(true, Ordering::SeqCst);
    let ready = ReadyInfo {
        listeners: shared
            .runtime
            .load()
            .listeners
            .iter()
            .map(|l| (l.name.to_string(), l.bind))
            .collect(),
        admin: admin_addr,
    };
    info!(listeners = ?ready.listeners, admin = ?ready.admin, "lb-server ready");
    if let Some(f) = on_ready {
        f(&ready);
    }

    let signal = loop {
        match signals.next().await {
            Request::Reload => {
                info!("SIGHUP: reloading the configuration");
                let _ = core.reload().await;
            }
            Request::Shutdown(name) => break name,
        }
    };

    shared.ready.store(false, Ordering::SeqCst);
    let timeout = core.shutdown_timeout().await;
    let tracker = &ctx.env.tracker;
    info!(
        signal,
        open = tracker.len(),
        ?timeout,
        "shutting down: stopped accepting, draining connections"
    );
    ctx.env.shutdown.cancel();
    tracker.close();
    tokio::select! {
        () = tracker.wait() => info!("all connections finished"),
        () = tokio::time::sleep(timeout) => warn!(open = tracker.len(), "shutdown_timeout reached: closing the remaining connections"),
        again = signals.next_shutdown() => warn!(signal = again, open = tracker.len(), "second signal: exiting now"),
    }
    admin_stop.cancel();
    Ok(())
}
