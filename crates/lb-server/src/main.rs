//! `lb-server`: the lb load balancer binary.
//!
//! A thin layer over the library crates: the command line ([`cli`]), the
//! configuration turned into each crate's options ([`plan`]) and into live
//! objects ([`wire`]), sockets and accept loops ([`listeners`]), reload
//! ([`reload`]), signals and graceful shutdown ([`server`], [`signals`]),
//! DNS re-resolution ([`dns`]), the admin API, metrics and logs.
//!
//! Exit codes: 0 ok, 2 bad configuration or usage, 1 runtime failure (for
//! example a port already in use, named in the message).

mod admin;
mod check;
mod cli;
mod demo;
mod demo_backend;
mod dns;
mod killable;
mod listeners;
mod logging;
mod metrics;
mod plan;
mod reload;
mod route_cmd;
mod serve;
mod server;
mod signals;
mod state;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::server::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage
            // errors print to stderr and exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => run(args.config),
        Command::Check(args) => check::run(&args.config),
        Command::Route(args) => route_cmd::run(&args),
        Command::Demo(args) => demo(args),
    }
}

fn run(path: PathBuf) -> ExitCode {
    let loaded = match check::load(&path) {
        Ok(loaded) => loaded,
        Err(e) => return report(Failure::Config(e.lines)),
    };
    let _log = match logging::init(&loaded.config.log) {
        Ok(guard) => guard,
        Err(e) => {
            return report(Failure::Config(vec![format!(
                "{}: log: {e}",
                path.display()
            )]))
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let workers = loaded.config.server.workers;
    let (plan, admin) = match plan::from_config(loaded.config) {
        Ok(p) => p,
        Err(e) => return report(Failure::Config(e.lines)),
    };
    let source = reload::Source::File(path);
    block_on(workers, server::run(source, plan, admin, None))
}

fn demo(args: cli::DemoArgs) -> ExitCode {
    let _log = match logging::init_with("info", logging::Format::Text, true) {
        Ok(guard) => guard,
        Err(e) => return report(Failure::Runtime(vec![e])),
    };
    block_on(0, demo::run(args))
}

fn block_on(
    workers: usize,
    fut: impl std::future::Future<Output = Result<(), Failure>>,
) -> ExitCode {
    // One worker: a current-thread runtime on the main thread. It serves
    // the same tasks without the work-stealing scheduler's bookkeeping (an
    // atomic handoff per wake-up) and without a second thread; the
    // benchmark's CPU per request fell by a few percent with it
    // (docs/benchmarks.md). More workers: the multi-thread runtime.
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if workers > 0 {
            b.worker_threads(workers);
        }
        b
    };
    builder.enable_all().thread_name("lb-worker");
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            return report(Failure::Runtime(vec![format!(
                "cannot start the runtime: {e}"
            )]))
        }
    };
    let result = runtime.block_on(fut);
    // Whatever is still running after the drain period is cut off here.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
    }
}

/// Print the failure (one line per problem) and pick the exit code.
fn report(failure: Failure) -> ExitCode {
    let (lines, code) = match failure {
        Failure::Config(lines) => (lines, 2),
        Failure::Runtime(lines) => (lines, 1),
    };
    for line in &lines {
        eprintln!("lb-server: {line}");
    }
    ExitCode::from(code)
}
