//! `cargo xtask dashboard`: render the admin dashboard to `docs/dashboard.png`.
//!
//! Builds `lb-server`, starts `lb-server demo` on free ports, sends it some
//! traffic (and drains one server, to show that colour), then takes a
//! screenshot of the dashboard in headless Chromium. Not part of CI: it needs
//! Chromium (`apt-get install chromium`; `CHROMIUM=/path` to choose one).
//!
//! The dashboard's charts need a minute of polling. Chromium's
//! `--virtual-time-budget` runs the page's timers without waiting in real
//! time, but it stops virtual time while a fetch is pending. So the page is
//! served through a small proxy here that holds each `/status` answer for one
//! real second: each poll then covers one second of real traffic, and the
//! screenshot is taken after [`POLLS`] polls.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Polls of `/status` (one real second each) before the screenshot.
const POLLS: u64 = 55;
/// Delay the proxy adds to each `/status` answer.
const POLL_DELAY: Duration = Duration::from_secs(1);
/// Pause between two demo requests of one traffic thread.
const TRAFFIC_PAUSE: Duration = Duration::from_millis(25);
/// Socket timeouts of this tool's own HTTP calls.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Run the step.
pub(crate) fn run() -> Result<(), String> {
    let root = workspace_root()?;
    let chromium = find_chromium()?;
    let bin = build_server(&root)?;
    let (port, admin_port) = (free_port()?, free_port()?);
    let log = std::env::temp_dir().join("lb-dashboard-demo.log");
    let mut demo = Demo::start(&bin, port, admin_port, &log)?;
    println!(
        "lb-server demo on 127.0.0.1:{port}, admin 127.0.0.1:{admin_port}; its log: {}",
        log.display()
    );
    let admin: SocketAddr = SocketAddr::from(([127, 0, 0, 1], admin_port));
    let web: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_ready(admin, &mut demo.0)?;

    let stop = Arc::new(AtomicBool::new(false));
    let traffic: Vec<_> = (0..3)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = http(web, "GET", "/", "");
                    thread::sleep(TRAFFIC_PAUSE);
                }
            })
        })
        .collect();
    let proxy = DelayProxy::start(admin)?;

    // Halfway through, drain the first server of the first upstream.
    let drainer = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let until = Instant::now() + POLL_DELAY * (POLLS as u32 / 2);
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(100));
            }
            drain_first_server(admin)
        })
    };

    let out = root.join("docs").join("dashboard.png");
    let shot = screenshot(&chromium, proxy.addr, &out);
    stop.store(true, Ordering::Relaxed);
    for t in traffic {
        let _ = t.join();
    }
    let drained = drainer
        .join()
        .unwrap_or_else(|_| Err("drain thread panicked".into()));
    shot?;
    if let Err(e) = drained {
        eprintln!("note: could not drain a server for the picture: {e}");
    }
    println!("wrote {}", out.display());
    Ok(())
}

fn workspace_root() -> Result<PathBuf, String> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "xtask has no parent directory".to_owned())
}

fn find_chromium() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("CHROMIUM") {
        Some(path) => vec![PathBuf::from(path)],
        None => [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
    };
    for c in candidates {
        let ok = Command::new(&c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(c);
        }
    }
    Err("no Chromium found: `apt-get install -y chromium`, or set CHROMIUM=/path/to/chrome".into())
}

fn build_server(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "-p", "lb-server"])
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build -p lb-server failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target
        .join("debug")
        .join(format!("lb-server{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} not found after the build", bin.display()))
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The `lb-server demo` process, killed on drop.
struct Demo(Child);

impl Demo {
    /// Start it; its output (the access log of the traffic) goes to `log`.
    fn start(bin: &Path, port: u16, admin_port: u16, log: &Path) -> Result<Self, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        Command::new(bin)
            .args(["demo", "--port", &port.to_string()])
            .args(["--admin-port", &admin_port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map(Demo)
            .map_err(|e| format!("start {}: {e}", bin.display()))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(admin: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("lb-server demo exited: {status}"));
        }
        if matches!(http(admin, "GET", "/ready", ""), Ok((200, _))) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("lb-server demo not ready on {admin} after 30s"))
}

/// One HTTP/1.1 request with `Connection: close`: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let resp = String::from_utf8_lossy(&resp);
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad response from {addr}"))?;
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_owned()))
}

/// Drain the first server listed in `/status` (a crude scan of the JSON,
/// which lists upstreams by name and servers by `"addr"`).
fn drain_first_server(admin: SocketAddr) -> Result<(), String> {
    let (_, status) = http(admin, "GET", "/status", "")?;
    let after_upstreams = status
        .split_once("\"upstreams\"")
        .map(|(_, rest)| rest)
        .ok_or("no upstreams in /status")?;
    let name = quoted_after(after_upstreams, "{").ok_or("no upstream name")?;
    let addr = quoted_after(after_upstreams, "\"addr\":").ok_or("no server addr")?;
    let path = format!("/upstreams/{name}/servers/{addr}/drain");
    match http(admin, "POST", &path, "")? {
        (200, _) => Ok(()),
        (code, body) => Err(format!("POST {path}: {code} {body}")),
    }
}

/// The first `"string"` after `marker` in `text`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = text.split_once(marker)?.1;
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    Some(&rest[start..start + len])
}

fn screenshot(chromium: &Path, proxy: SocketAddr, out: &Path) -> Result<(), String> {
    let profile =
        std::env::temp_dir().join(format!("lb-dashboard-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let budget_ms = POLLS * 1000;
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("http://{proxy}/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("run {}: {e}", chromium.display()));
    let _ = std::fs::remove_dir_all(&profile);
    match status? {
        s if s.success() && out.is_file() => Ok(()),
        s => Err(format!(
            "chromium failed ({s}); no screenshot at {}",
            out.display()
        )),
    }
}

/// Forwards each request to the admin API on a fresh connection, holding
/// `/status` answers for [`POLL_DELAY`]; answers close the connection.
struct DelayProxy {
    addr: SocketAddr,
}

impl DelayProxy {
    fn start(admin: SocketAddr) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("proxy bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // The thread ends with the process (this tool exits after the shot).
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                thread::spawn(move || {
                    let _ = forward(client, admin);
                });
            }
        });
        Ok(Self { addr })
    }
}

fn forward(mut client: TcpStream, admin: SocketAddr) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let (head, _) = head.split_once("\r\n\r\n").unwrap_or((&head, ""));
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    if request_line
        .split(' ')
        .nth(1)
        .is_some_and(|p| p.ends_with("/status"))
    {
        thread::sleep(POLL_DELAY);
    }
    let mut upstream_req = format!("{request_line}\r\n");
    for line in lines.filter(|l| !l.to_ascii_lowercase().starts_with("connection:")) {
        upstream_req.push_str(line);
        upstream_req.push_str("\r\n");
    }
    upstream_req.push_str("Connection: close\r\n\r\n");
    let mut upstream = TcpStream::connect_timeout(&admin, IO_TIMEOUT)?;
    upstream.set_read_timeout(Some(IO_TIMEOUT))?;
    upstream.write_all(upstream_req.as_bytes())?;
    let mut resp = Vec::new();
    upstream.read_to_end(&mut resp)?;
    client.write_all(&resp)?;
    client.flush()
}
