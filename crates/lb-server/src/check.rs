//! `lb-server check -c FILE`, and loading for `run` and reload.
//!
//! Like `nginx -t`: every error at once, each naming the file, the key path,
//! what is wrong and what is allowed; warnings too. Exit 0 with a one-line
//! summary, or 2.

use std::path::Path;
use std::process::ExitCode;

/// A configuration that could not be loaded: one line per error.
#[derive(Debug)]
pub(crate) struct LoadError {
    /// `file: key.path: message` lines.
    pub(crate) lines: Vec<String>,
}

/// A loaded configuration and its warnings.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The configuration.
    pub(crate) config: lb_config::Config,
    /// `file: key.path: message` lines.
    pub(crate) warnings: Vec<String>,
    /// The one-line summary.
    pub(crate) summary: String,
}

/// Load, validate and check that the configuration can be wired (TLS files
/// readable, header names valid), with `LB_…` environment overrides.
pub(crate) fn load(path: &Path) -> Result<Loaded, LoadError> {
    let file = path.display().to_string();
    let loaded = lb_config::load(path).map_err(|diags| LoadError {
        lines: diags.errors().map(ToString::to_string).collect(),
    })?;
    if let Err(e) = crate::plan::from_config(loaded.config.clone()) {
        return Err(LoadError {
            lines: e
                .lines
                .into_iter()
                .map(|l| format!("{file}: {l}"))
                .collect(),
        });
    }
    Ok(Loaded {
        warnings: loaded.warnings.iter().map(ToString::to_string).collect(),
        summary: loaded.summary(),
        config: loaded.config,
    })
}

/// Load for a reload: warnings go to the log.
pub(crate) fn load_for_run(path: &Path) -> Result<lb_config::Config, LoadError> {
    let loaded = load(path)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    Ok(loaded.config)
}

/// Parse a configuration held in memory (the demo's), without environment
/// overrides; `name` stands for the file name in messages.
pub(crate) fn load_text(text: &str, name: &str) -> Result<lb_config::Config, LoadError> {
    lb_config::from_str(text, lb_config::Format::Toml, name)
        .map(|l| l.config)
        .map_err(|diags| LoadError {
            lines: diags.errors().map(ToString::to_string).collect(),
        })
}

/// Run `check`: print the summary and warnings (exit 0) or every error (exit 2).
pub(crate) fn run(path: &Path) -> ExitCode {
    match load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            println!("{}", loaded.summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in &e.lines {
                eprintln!("{line}");
            }
            let n = e.lines.len();
            eprintln!(
                "{}: {n} error{}: configuration not valid",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(2)
        }
    }
}
