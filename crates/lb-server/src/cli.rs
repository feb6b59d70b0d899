//! The command line (SPEC §2), declared with clap's derive API.
//!
//! `lb-server [run] -c lb.toml`, `check -c FILE`, `route -c FILE METHOD URL -H ...`,
//! `demo [--port 8080] [--admin-port 9901]`, plus `--version` and `--help`.
//! Exit codes are decided in `main`: 0 ok, 2 bad configuration or usage,
//! 1 runtime failure.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// lb: an L4/L7 load balancer.
#[derive(Debug, Parser)]
#[command(
    name = "lb-server",
    version,
    about = "lb: an HTTP/TCP/UDP load balancer",
    long_about = "lb: an HTTP/TCP/UDP load balancer.\n\nWithout a subcommand, `lb-server -c lb.toml` runs the balancer (same as `run`).",
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    /// What to do; `run` when absent.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Options of the default `run`.
    #[command(flatten)]
    pub(crate) run: ConfigArg,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the balancer from a configuration file (the default).
    Run(ConfigArg),
    /// Validate a configuration file like `nginx -t`: every error, exit 0 or 2.
    Check(ConfigArg),
    /// Dry run: which listener, route, upstream and server a request would take.
    Route(RouteArgs),
    /// Three built-in demo backends and a balancer on 127.0.0.1:8080.
    Demo(DemoArgs),
}

/// `-c/--config FILE`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigArg {
    /// Configuration file (.toml, .yaml or .json); every key can be overridden
    /// from the environment as `LB_` + the key path with `__`, e.g.
    /// `LB_ADMIN__BIND=0.0.0.0:9901`.
    #[arg(short, long, value_name = "FILE", default_value = "lb.toml")]
    pub(crate) config: PathBuf,
}

/// Arguments of `route`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RouteArgs {
    /// Configuration file.
    #[arg(short, long, value_name = "FILE", default_value = "lb.toml")]
    pub(crate) config: PathBuf,
    /// Request method, e.g. GET.
    pub(crate) method: String,
    /// Request URL, e.g. http://example.com/api/v2/x (the port picks the listener).
    pub(crate) url: String,
    /// Request header `name: value`; repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub(crate) headers: Vec<String>,
}

/// Arguments of `demo`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DemoArgs {
    /// Port of the balancer on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// Port of the admin API on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 9901)]
    pub(crate) admin_port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_is_the_default() {
        let cli = Cli::try_parse_from(["lb-server", "-c", "x.toml"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.config, PathBuf::from("x.toml"));
    }

    #[test]
    fn route_takes_repeated_headers() {
        let cli = Cli::try_parse_from([
            "lb-server",
            "route",
            "-c",
            "a.toml",
            "GET",
            "http://x/",
            "-H",
            "a: 1",
            "-H",
            "b: 2",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Route(r)) => {
                assert_eq!(r.method, "GET");
                assert_eq!(r.headers, ["a: 1", "b: 2"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
