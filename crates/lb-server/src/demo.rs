//! `lb-server demo`: three backends in-process, a balancer and the admin API.
//!
//! The backends listen on ephemeral loopback ports; the balancer listens on
//! `127.0.0.1:8080` (`--port`) with round robin and HTTP health checks, the
//! admin API on `127.0.0.1:9901` (`--admin-port`). The configuration is an
//! ordinary lb configuration built in memory and validated by lb-config, so
//! the demo runs exactly the code `run` does. Unlike `run`, the demo binds
//! its ports exclusively (no `SO_REUSEPORT`): a second demo fails with a
//! one-line error naming the port instead of silently sharing it.

use std::fmt::Write as _;

use tokio_util::sync::CancellationToken;

use crate::cli::DemoArgs;
use crate::demo_backend::{self, DemoBackend};
use crate::reload::Source;
use crate::server::{self, Failure, ReadyInfo};

/// The backends' names.
const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

/// The demo's configuration, in the format users write.
pub(crate) fn config_text(port: u16, admin_port: u16, backends: &[DemoBackend]) -> String {
    let mut servers = String::new();
    for b in backends {
        let _ = writeln!(servers, "  {{ addr = \"{}\" }},", b.addr);
    }
    format!(
        r#"# lb-server demo
[server]
shutdown_timeout = "5s"

[admin]
bind = "127.0.0.1:{admin_port}"

[log]
level = "info"
access_log = true

[listeners.demo]
bind = "127.0.0.1:{port}"
protocol = "http"

[[listeners.demo.routes]]
path_prefix = "/"
upstream = "demo"

[upstreams.demo]
algorithm = "round_robin"
servers = [
{servers}]

[upstreams.demo.health]
check = "http"
path = "/health"
interval = "2s"
timeout = "1s"
"#
    )
}

/// Run the demo until Ctrl-C.
pub(crate) async fn run(args: DemoArgs) -> Result<(), Failure> {
    let stop = CancellationToken::new();
    let _stop_backends = stop.clone().drop_guard();
    let mut backends = Vec::new();
    for name in NAMES {
        let b = demo_backend::start(name, stop.clone())
            .await
            .map_err(|e| Failure::Runtime(vec![format!("demo backend {name}: {e}")]))?;
        backends.push(b);
    }
    let text = config_text(args.port, args.admin_port, &backends);
    let config = crate::check::load_text(&text, "demo").map_err(|e| Failure::Config(e.lines))?;
    let (mut plan, admin) =
        crate::plan::from_config(config).map_err(|e| Failure::Config(e.lines))?;
    for l in plan.listeners.values_mut() {
        l.reuse_port = false;
    }
    let hints = hints(&backends);
    server::run(
        Source::Fixed("the demo has no configuration file to reload"),
        plan,
        admin,
        Some(Box::new(move |ready: &ReadyInfo| {
            println!("{}", hints(ready))
        })),
    )
    .await
}

fn hints(backends: &[DemoBackend]) -> impl FnOnce(&ReadyInfo) -> String {
    let list = backends
        .iter()
        .map(|b| format!("{} on {}", b.name, b.addr))
        .collect::<Vec<_>>()
        .join(", ");
    move |ready: &ReadyInfo| {
        let lb = ready
            .listeners
            .first()
            .map_or_else(|| "?".to_owned(), |(_, a)| a.to_string());
        let admin = ready
            .admin
            .map_or_else(|| "?".to_owned(), |a| a.to_string());
        format!(
            "lb demo: balancing {lb} over 3 backends ({list}), round robin with health checks.\n\
             Try:\n  \
             curl http://{lb}/                 # run it a few times: alpha, beta, gamma in turn\n  \
             curl http://{admin}/status        # servers, their state and counters\n  \
             curl http://{admin}/metrics       # Prometheus metrics\n  \
             open http://{admin}/              # the live dashboard\n\
             Ctrl-C stops it."
        )
    }
}
