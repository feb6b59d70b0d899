//! Test helpers for lb: real backends on loopback ephemeral ports.
//!
//! Every helper binds `127.0.0.1:0`, runs on the current tokio runtime and
//! stops when dropped. Nothing here is mocked: tests talk to these over real
//! sockets.

// A test helper crate: failing to bind loopback is a broken machine, and a
// panic with a message is the right answer inside a test.
#![allow(clippy::expect_used)]

mod http_backend;
mod tcp_echo;
mod udp_echo;

pub use http_backend::HttpBackend;
pub use tcp_echo::TcpEcho;
pub use udp_echo::UdpEcho;

/// Install a tracing subscriber that writes through the test harness
/// (`RUST_LOG` overrides the default `warn`). Safe to call many times.
pub fn trace_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
