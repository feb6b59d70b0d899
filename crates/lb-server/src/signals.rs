//! Unix signals: `SIGHUP` reloads, `SIGTERM` and `SIGINT` shut down.

use std::io;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// `SIGHUP`: re-read the configuration file.
    Reload,
    /// `SIGTERM` or `SIGINT`: graceful shutdown; the name of the signal.
    Shutdown(&'static str),
}

/// The signals lb-server listens to, registered once at start.
#[derive(Debug)]
pub(crate) struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Register the handlers (must run inside the tokio runtime).
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal received.
    pub(crate) async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.hup.recv() => Request::Reload,
            _ = self.term.recv() => Request::Shutdown("SIGTERM"),
            _ = self.int.recv() => Request::Shutdown("SIGINT"),
        }
    }

    /// The next shutdown signal (reloads are ignored once shutdown began).
    pub(crate) async fn next_shutdown(&mut self) -> &'static str {
        loop {
            if let Request::Shutdown(name) = self.next().await {
                return name;
            }
        }
    }
}
