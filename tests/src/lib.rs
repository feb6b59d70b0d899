//! End-to-end test harness: runs the real `lb-server` binary.
//!
//! [`LbServer::start`] writes a configuration file into a fresh temporary
//! directory, spawns the binary on it, waits (bounded) until the listed
//! addresses accept TCP connections, and kills the process on drop. Its
//! stdout and stderr go to files in that directory ([`LbServer::output`]).
//!
//! # Finding the binary
//!
//! `env!("CARGO_BIN_EXE_lb-server")` exists only inside the package that owns
//! the binary, and artifact dependencies are unstable. So [`server_bin`] looks
//! next to the test executable: tests run from `target/<profile>/deps/`, and
//! cargo puts the binary in `target/<profile>/`. `cargo test --workspace`
//! builds it first because `lb-server` has integration tests of its own (cargo
//! builds a package's binaries for its integration tests, and builds all test
//! targets before running any). When running this package alone, build it
//! first with `cargo build -p lb-server`; `LB_SERVER_BIN` overrides the path.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let port = lb_e2e::free_port();
//! let lb = lb_e2e::LbServer::start(&format!(
//!     "[listeners.web]\nbind = \"127.0.0.1:{port}\"\nprotocol = \"http\"\n..."
//! ), &[format!("127.0.0.1:{port}").parse()?]).await?;
//! # Ok(()) }
//! ```

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

mod gate;

pub use gate::GateBackend;

/// How long any wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The path of the `lb-server` binary (see the crate docs).
pub fn server_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("LB_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let mut dir = exe.parent().context("test executable has no directory")?;
    if dir.ends_with("deps") {
        dir = dir.parent().context("deps has no parent")?;
    }
    let bin = dir.join(format!("lb-server{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!(
            "{} not found: run `cargo build -p lb-server` (or `cargo test --workspace`), \
             or set LB_SERVER_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Create one.
    pub fn new() -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lb-e2e-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Self(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on 127.0.0.1 (bound then released), never the same twice
/// in one test process.
///
/// `127.0.0.1:port`: where a test's listener or backend is.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// lb-server binds with `SO_REUSEPORT`: two servers of two tests given the
/// same port would both bind it and silently share its traffic, so ports
/// handed out once are not handed out again.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..100 {
        let Ok(port) = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) else {
            continue;
        };
        let port = port.port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    0
}

/// Run `lb-server` with `args` to completion (for `check`, `--version`, ...).
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Output> {
    let mut cmd = Command::new(server_bin()?);
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().context("run lb-server")
}

/// A running `lb-server` process; killed on drop.
#[derive(Debug)]
pub struct LbServer {
    child: Option<Child>,
    dir: TempDir,
}

/// How to start a server.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// Arguments; default `run -c <dir>/lb.toml`.
    pub args: Option<Vec<String>>,
    /// Extra environment variables.
    pub env: Vec<(&'a str, String)>,
    /// Addresses that must accept TCP connections before `start` returns.
    pub wait_for: Vec<SocketAddr>,
}

impl LbServer {
    /// Write `config` as `lb.toml`, run `lb-server run -c lb.toml`, and wait
    /// until every address in `wait_for` accepts connections.
    pub async fn start(config: &str, wait_for: &[SocketAddr]) -> anyhow::Result<Self> {
        Self::start_with(
            config,
            Options {
                wait_for: wait_for.to_vec(),
                ..Options::default()
            },
        )
        .await
    }

    /// As [`start`](Self::start), with arguments and environment.
    pub async fn start_with(config: &str, options: Options<'_>) -> anyhow::Result<Self> {
        let dir = TempDir::new()?;
        let config_path = dir.path().join("lb.toml");
        fs::write(&config_path, config)?;
        let args = options.args.unwrap_or_else(|| {
            vec![
                "run".into(),
                "-c".into(),
                config_path.to_string_lossy().into_owned(),
            ]
        });
        let stdout = fs::File::create(dir.path().join("stdout"))?;
        let stderr = fs::File::create(dir.path().join("stderr"))?;
        let mut cmd = Command::new(server_bin()?);
        cmd.args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            );
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("spawn lb-server")?;
        let mut server = Self {
            child: Some(child),
            dir,
        };
        for addr in &options.wait_for {
            server.wait_for_port(*addr).await?;
        }
        Ok(server)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The configuration file it runs on.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("lb.toml")
    }

    /// Replace the configuration file (then send `SIGHUP` or `POST /reload`).
    pub fn write_config(&self, config: &str) -> anyhow::Result<()> {
        // Write then rename, so a reload never sees half a file.
        let tmp = self.dir.path().join("lb.toml.tmp");
        fs::write(&tmp, config)?;
        fs::rename(&tmp, self.config_path())?;
        Ok(())
    }

    /// Everything it wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        let read = |f: &str| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("stdout"), read("stderr"))
    }

    /// Send a signal by name (`TERM`, `HUP`, `INT`) with `kill(1)`.
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .context("run kill")?;
        if !status.success() {
            bail!("kill -{name} {} failed: {status}", self.pid());
        }
        Ok(())
    }

    /// Wait (bounded by [`WAIT`]) until `addr` accepts a TCP connection,
    /// failing early if the process exited.
    pub async fn wait_for_port(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.try_wait()? {
                bail!(
                    "lb-server exited with {status} before {addr} was up:\n{}",
                    self.output()
                );
            }
            if Instant::now() > deadline {
                bail!("{addr} not up after {WAIT:?}:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait (bounded) until `output()` contains `needle`.
    pub async fn wait_for_output(&self, needle: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while !self.output().contains(needle) {
            if Instant::now() > deadline {
                bail!(
                    "{needle:?} not in the output after {WAIT:?}:\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// The exit status, if it exited.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        match &mut self.child {
            Some(child) => Ok(child.try_wait()?),
            None => bail!("already waited"),
        }
    }

    /// Wait (bounded) for the process to exit.
    pub async fn wait_exit(&mut self) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("lb-server still running after {WAIT:?}:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for LbServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A pooled keep-alive HTTP/1.1 client.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new pooled client.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Reply {
    /// The `x-backend` header (the demo and test backends set it).
    pub fn backend(&self) -> String {
        self.headers
            .get("x-backend")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// Send a request with `headers` and read the whole response.
pub async fn request(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::new()))?;
    let resp = tokio::time::timeout(WAIT, client.request(req))
        .await
        .with_context(|| format!("{method} {url}: no answer in {WAIT:?}"))?
        .with_context(|| format!("{method} {url}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(WAIT, resp.into_body().collect())
        .await
        .context("body timed out")??
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `GET url`.
pub async fn get(client: &HttpClient, url: &str) -> anyhow::Result<Reply> {
    request(client, "GET", url, &[]).await
}

/// Poll `check` every 20 ms until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("{what}: not true after {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
