//! `lb-server check`: every error at once, with the file and the key path.

use lb_e2e::{run_cli, TempDir};

fn check(config: &str) -> anyhow::Result<(Option<i32>, String, String, String)> {
    let dir = TempDir::new()?;
    let path = dir.path().join("lb.toml");
    std::fs::write(&path, config)?;
    let file = path.to_string_lossy().into_owned();
    let out = run_cli(&["check", "-c", &file], &[])?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        file,
    ))
}

/// The error line about `key`, which must name the file.
fn line_for<'a>(stderr: &'a str, file: &str, key: &str) -> &'a str {
    let prefix = format!("{file}: {key}: ");
    stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no error for {key:?} in:\n{stderr}"))
}

#[test]
fn check_reports_every_kind_of_error_with_its_key_path() -> anyhow::Result<()> {
    let (code, _, stderr, file) = check(
        r#"
[listeners.web]
bind = "127.0.0.1:8080"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "nope"

[listeners.typo]
bind = "127.0.0.1:8081"
upstream = "api"
protocol = "tcp"
colour = "blue"

[listeners.zagain]
bind = "127.0.0.1:8080"
protocol = "tcp"
upstream = "dup"

[listeners.badaddr]
bind = "127.0.0.1:80800"
protocol = "tcp"
upstream = "api"

[upstreams.api]
connect_timeout = "3 parsecs"
servers = [{ addr = "10.0.0.1" }]

[upstreams.dup]
servers = [
  { addr = "10.0.0.2:80" },
  { addr = "10.0.0.2:80" },
]
"#,
    )?;
    assert_eq!(code, Some(2), "{stderr}");
    // Unknown key: what is allowed is listed.
    let l = line_for(&stderr, &file, "listeners.typo.colour");
    assert!(l.contains("unknown") && l.contains("bind"), "{l}");
    // Bad addresses.
    let l = line_for(&stderr, &file, "upstreams.api.servers[0].addr");
    assert!(l.contains("10.0.0.1") && l.contains("host:port"), "{l}");
    let l = line_for(&stderr, &file, "listeners.badaddr.bind");
    assert!(l.contains("80800"), "{l}");
    // Bad duration: the allowed form is shown.
    let l = line_for(&stderr, &file, "upstreams.api.connect_timeout");
    assert!(l.contains("3 parsecs") && l.contains("3s"), "{l}");
    // A route to an unknown upstream names the known ones.
    let l = line_for(&stderr, &file, "listeners.web.routes[0].upstream");
    assert!(l.contains("nope") && l.contains("api"), "{l}");
    // Everything is reported in one run, then a count.
    assert!(stderr.contains("7 errors"), "{stderr}");
    // Duplicates: the same server twice, the same address bound twice.
    let l = line_for(&stderr, &file, "upstreams.dup.servers[1].addr");
    assert!(l.contains("servers[0]"), "{l}");
    let l = line_for(&stderr, &file, "listeners.zagain.bind");
    assert!(l.contains("web"), "{l}");
    Ok(())
}

#[test]
fn check_reports_a_duplicate_name_with_its_place() -> anyhow::Result<()> {
    let (code, _, stderr, file) = check(
        r#"
[upstreams.api]
servers = [{ addr = "10.0.0.1:80" }]

[upstreams.api]
servers = [{ addr = "10.0.0.2:80" }]
"#,
    )?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&file), "{stderr}");
    assert!(
        stderr.contains("api") && stderr.to_lowercase().contains("duplicate"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn check_accepts_a_valid_file_with_a_one_line_summary() -> anyhow::Result<()> {
    let (code, stdout, stderr, _) = check(
        r#"
[listeners.web]
bind = "127.0.0.1:8080"
[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"

[upstreams.api]
servers = [{ addr = "10.0.0.1:80" }, { addr = "api.internal:8080", weight = 3 }]
"#,
    )?;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("ok") && stdout.contains("1 listener"),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn version_and_help_exit_0_and_usage_errors_exit_2() -> anyhow::Result<()> {
    let out = run_cli(&["--version"], &[])?;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lb-server "));
    let out = run_cli(&["--help"], &[])?;
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "check", "route", "demo"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = run_cli(&["frobnicate"], &[])?;
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}
