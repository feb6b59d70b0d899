//! End-to-end tests of the HTTP proxy: a real `HttpListener` on loopback in
//! front of real hyper backends. One binary, one module per topic.

// Helpers outside `#[test]` functions unwrap too: any failure is a failed
// test, reported with its panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod errors;
mod fast_path;
mod forwarding;
mod h2;
mod observer;
mod passive;
mod retry;
mod split;
mod sticky;
mod timeouts;
mod tls;
mod websocket;
