//! Project tasks, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! - `ci`: what CI runs — `cargo fmt --check`, `cargo clippy --workspace
//!   --all-targets -D warnings`, then every test (`cargo test --workspace`).
//! - `algorithms`: the algorithm comparison table (docs/algorithms.md).
//! - `bench [lbbench args]`: release build, then `../shared/bench/lbbench`
//!   against nginx and HAProxy.
//! - `dashboard`: renders the admin dashboard in headless Chromium to
//!   `docs/dashboard.png` (needs the `chromium` package; not in CI).

mod dashboard;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        eprintln!("usage: cargo xtask <ci|algorithms|bench|dashboard> [args]");
        return ExitCode::from(2);
    };
    let result = match task.as_str() {
        "ci" => ci(),
        "algorithms" => algorithms(),
        "bench" => bench(&args[1..]),
        "dashboard" => dashboard::run(),
        other => Err(format!(
            "unknown task {other:?} (expected ci, algorithms, bench, dashboard)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(project_root());
    cmd
}

/// Run a command, failing with its description when it does not exit 0.
pub(crate) fn run(mut cmd: Command) -> Result<(), String> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn ci() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    run_counting_tests(test)
}

/// Run `cargo test`, passing its output through, and close with one line
/// totalling every test binary's `test result:` line (and the harness-less
/// binaries' `name: N passed, N failed` lines): `ci: N passed, N failed`.
fn run_counting_tests(mut cmd: Command) -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let (mut passed, mut failed) = (0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some((p, f)) = counts(&line) {
                passed += p;
                failed += f;
            }
        }
    }
    let status = child.wait().map_err(|e| format!("{cmd:?}: {e}"))?;
    println!("ci: {passed} passed, {failed} failed");
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// `(passed, failed)` from a libtest `test result:` line or a harness-less
/// test's `name: N passed, N failed` line.
fn counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("test result: ").map_or(line, |r| r);
    let (before, after) = rest
        .split_once(" passed; ")
        .or_else(|| rest.split_once(" passed, "))?;
    let passed = before.rsplit(' ').next()?.parse().ok()?;
    let failed = after.split(' ').next()?.parse().ok()?;
    Some((passed, failed))
}

fn algorithms() -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-p",
        "lb-balance",
        "--example",
        "algorithms",
    ]);
    run(cmd)
}

fn bench(extra: &[String]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--release", "-p", "lb-server"]);
    run(build)?;
    let root = project_root();
    let lbbench = root.join("../shared/bench/lbbench");
    if !lbbench.exists() {
        return Err(format!(
            "{} not found (the shared bench folder sits beside the repo)",
            lbbench.display()
        ));
    }
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = target_dir.join("release/lb-server");
    let mut cmd = Command::new(lbbench);
    cmd.current_dir(&root)
        .arg("--target")
        .arg("nginx,haproxy,lb")
        .arg("--lb-bin")
        .arg(bin);
    if extra.is_empty() {
        cmd.args(["--scenario", "all", "--repeat", "3"]);
    } else {
        cmd.args(extra);
    }
    run(cmd)
}

#[cfg(test)]
mod tests {
    use super::counts;

    #[test]
    fn counts_libtest_and_plain_summary_lines() {
        let ok = "test result: ok. 29 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.72s";
        assert_eq!(counts(ok), Some((29, 0)));
        let bad = "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(counts(bad), Some((3, 1)));
        assert_eq!(counts("alloc: 2 passed, 0 failed"), Some((2, 0)));
        assert_eq!(counts("running 3 tests"), None);
    }
}
