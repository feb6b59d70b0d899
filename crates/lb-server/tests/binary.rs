//! The binary answers `--version` and `--help`.
//!
//! Also the reason `cargo test --workspace` builds `target/<profile>/lb-server`
//! before any test runs: cargo builds a package's binaries for its
//! integration tests, and the end-to-end crate (`tests/`, package `lb-e2e`)
//! runs that binary.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lb-server");

#[test]
fn version_prints_the_version_and_exits_0() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("lb-server {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_subcommands_and_exits_0() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "check", "route", "demo"] {
        assert!(stdout.contains(cmd), "{stdout}");
    }
}

#[test]
fn a_missing_config_file_exits_2() {
    let out = Command::new(BIN)
        .args(["run", "-c", "/nonexistent/lb.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/lb.toml"));
}
