//! Start and reload: read, validate, prepare, then commit atomically.
//!
//! A reload runs in two phases under one lock:
//! 1. **prepare** (may fail, changes nothing): load and validate the file,
//!    build the [`Plan`] (TLS files read, route tables compiled), resolve
//!    server names, bind the sockets of new listeners;
//! 2. **commit** (cannot fail): update balancers in place (servers that stay
//!    keep their state), keep or replace checkers, detectors and pools, hand
//!    new routing to HTTP listeners that stay, start new listeners, retire
//!    removed ones (they stop accepting and drain), and swap
//!    `Shared::runtime`.
//!
//! Start-up is the same two phases from an empty state.

mod commit;
mod prepare;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lb_health::events::EventSink;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::listeners::{Env, Running};
use crate::plan::{ListenerPlan, Plan};
use crate::state::{BoxFuture, Control, Shared};
use crate::wire::LiveUpstream;

use commit::commit;
use prepare::prepare;

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A file, re-read on reload.
    File(PathBuf),
    /// Built in (the demo): reload is refused with this reason.
    Fixed(&'static str),
}

/// Why start-up or a reload was refused.
#[derive(Debug)]
pub(crate) struct Refused {
    /// One line per problem.
    pub(crate) errors: Vec<String>,
    /// A socket could not be bound (exit 1 at start), rather than a bad
    /// configuration (exit 2).
    pub(crate) bind_failed: bool,
}

impl Refused {
    fn config(errors: Vec<String>) -> Self {
        Self {
            errors,
            bind_failed: false,
        }
    }
}

/// What start-up and reload share.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// Tracker, shutdown token, metrics.
    pub(crate) env: Env,
    /// Where health events go.
    pub(crate) events: EventSink,
}

/// The live objects of the current configuration.
#[derive(Debug, Default)]
pub(super) struct Active {
    upstreams: BTreeMap<String, LiveUpstream>,
    listeners: BTreeMap<String, LiveListener>,
    shutdown_timeout: Duration,
}

#[derive(Debug)]
pub(super) struct LiveListener {
    plan: ListenerPlan,
    kind: LiveKind,
}

#[derive(Debug)]
pub(super) enum LiveKind {
    Tcp(Running),
    Udp {
        local: SocketAddr,
        stop: CancellationToken,
    },
}

impl LiveListener {
    fn local(&self) -> SocketAddr {
        match &self.kind {
            LiveKind::Tcp(r) => r.local,
            LiveKind::Udp { local, .. } => *local,
        }
    }

    fn retire(self, grace: Duration) {
        match self.kind {
            LiveKind::Tcp(running) => running.retire(grace),
            LiveKind::Udp { stop, .. } => stop.cancel(),
        }
    }
}

/// The running core: owns the live objects and performs reloads.
#[derive(Debug)]
pub(crate) struct Core {
    source: Source,
    ctx: Ctx,
    shared: Arc<Shared>,
    active: tokio::sync::Mutex<Active>,
}

impl Core {
    /// Build everything from `plan` and bind every listener.
    pub(crate) async fn start(
        source: Source,
        plan: Plan,
        ctx: Ctx,
        admin_token: Option<String>,
    ) -> Result<Arc<Self>, Refused> {
        let mut active = Active::default();
        let prepared = prepare(plan, &active).await?;
        let (runtime, _) = commit(&ctx, prepared, &mut active).await;
        let shared = Arc::new(Shared {
            runtime: arc_swap::ArcSwap::from_pointee(runtime),
            ready: std::sync::atomic::AtomicBool::new(false),
            metrics: Arc::clone(&ctx.env.metrics),
            admin_token,
        });
        Ok(Arc::new(Self {
            source,
            ctx,
            shared,
            active: tokio::sync::Mutex::new(active),
        }))
    }

    /// What the admin API and metrics read.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// `server.shutdown_timeout` of the current configuration.
    pub(crate) async fn shutdown_timeout(&self) -> Duration {
        self.active.lock().await.shutdown_timeout
    }

    /// Re-read the configuration; on any error nothing changes.
    pub(crate) async fn reload(&self) -> Result<String, Vec<String>> {
        let result = self.try_reload().await;
        match &result {
            Ok(summary) => {
                info!(%summary, "configuration reloaded");
                self.ctx.env.metrics.reload(true);
            }
            Err(errors) => {
                for e in errors {
                    error!(error = %e, "reload refused; still running the previous configuration");
                }
                self.ctx.env.metrics.reload(false);
            }
        }
        result
    }

    async fn try_reload(&self) -> Result<String, Vec<String>> {
        if self.ctx.env.shutdown.is_cancelled() {
            return Err(vec!["shutting down: reload refused".to_owned()]);
        }
        let path = match &self.source {
            Source::File(path) => path.clone(),
            Source::Fixed(reason) => return Err(vec![(*reason).to_owned()]),
        };
        let config = crate::check::load_for_run(&path).map_err(|e| e.lines)?;
        warn_restart_needed(&self.shared.runtime.load().config, &config);
        let (plan, _admin) = crate::plan::from_config(config).map_err(|e| e.lines)?;
        let mut active = self.active.lock().await;
        let prepared = prepare(plan, &active).await.map_err(|r| r.errors)?;
        let (runtime, summary) = commit(&self.ctx, prepared, &mut active).await;
        self.shared.runtime.store(Arc::new(runtime));
        Ok(summary)
    }
}

impl Control for Core {
    fn reload(&self) -> BoxFuture<'_, Result<String, Vec<String>>> {
        Box::pin(Core::reload(self))
    }
}

/// `[server]`, `[admin]` and `[log]` are read once at start.
fn warn_restart_needed(old: &lb_config::Config, new: &lb_config::Config) {
    let sections = [
        ("server.workers", old.server.workers != new.server.workers),
        ("admin", old.admin != new.admin),
        ("log", old.log != new.log),
    ];
    for (section, changed) in sections {
        if changed {
            warn!(
                section,
                "this change takes effect at the next restart, not on reload"
            );
        }
    }
}
