//! Validate a configuration file like `lb-server check`: print a one-line
//! summary (and any warnings) and exit 0, or every error and exit 2.
//!
//! ```text
//! cargo run -p lb-config --example check -- lb.toml
//! ```
//!
//! `LB_…` environment overrides apply, as they do for the server.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: check FILE (.toml, .yaml, .yml or .json)");
        return ExitCode::from(2);
    };
    match lb_config::load(&path) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("{warning}");
            }
            println!("{}", loaded.summary());
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            let errors = diagnostics.errors().count();
            eprintln!("{}: {errors} error(s)", path.display());
            ExitCode::from(2)
        }
    }
}
