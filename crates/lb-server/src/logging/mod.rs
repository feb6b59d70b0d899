//! Logs (SPEC §3 `[log]`, §4 "Logs"): tracing-subscriber with an `EnvFilter`,
//! `text` or `json` lines on stderr through a non-blocking writer, and the
//! access log as events on the `lb::access` target.
//!
//! The writer is our batched one ([`batch`]): a request's thread only formats
//! the line and appends it to its own buffer; the `lb-log` thread writes the
//! buffers out every 100 ms (sooner when one passes 32 KiB). When a thread's
//! buffer is full (4 MiB, the destination is stuck) its lines are dropped
//! rather than slowing traffic.

pub(crate) mod batch;

use tracing_subscriber::filter::{Directive, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::metrics::http::RequestOutcome;
use crate::metrics::tcp::ConnectionOutcome;

/// The target of access log events; `access_log = false` turns it off.
pub(crate) const ACCESS_TARGET: &str = "lb::access";

/// Keeps the background log writer alive; dropping it flushes buffered lines.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub(crate) struct LogGuard {
    /// The batched writer's guard.
    _flusher: batch::BatchGuard,
}

/// Line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Human-readable `key=value` lines.
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// Install the global subscriber from the `[log]` section.
///
/// # Errors
/// The level is not a valid `EnvFilter` string, or a global subscriber is
/// already installed.
pub(crate) fn init(cfg: &lb_config::LogConfig) -> Result<LogGuard, String> {
    let format = match cfg.format {
        lb_config::LogFormat::Json => Format::Json,
        lb_config::LogFormat::Text => Format::Text,
    };
    init_with(&cfg.level, format, cfg.access_log)
}

/// [`init`] with the settings spelled out.
///
/// # Errors
/// As [`init`].
pub(crate) fn init_with(level: &str, format: Format, access_log: bool) -> Result<LogGuard, String> {
    let filter = filter(level, access_log)?;
    // Batched: a busy access log costs one `write` per flush round (and per
    // logging thread), not one per line, and no wake-up per line.
    let (writer, flusher) = batch::BatchWriter::new(Box::new(std::io::stderr()))
        .map_err(|e| format!("log: cannot start the log thread: {e}"))?;
    let subscriber = subscriber(filter, format, writer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| format!("log: cannot install the logger: {e}"))?;
    Ok(LogGuard { _flusher: flusher })
}

/// The filter: `level` as an `EnvFilter` string, plus the access log target
/// on (at `info`, whatever the level) or off, unless `level` names it.
///
/// # Errors
/// `level` does not parse.
pub(crate) fn filter(level: &str, access_log: bool) -> Result<EnvFilter, String> {
    let bad = |e: &dyn std::fmt::Display| {
        format!(
            "log.level: {level:?} is not a level or EnvFilter string ({e}); \
             expected e.g. \"info\" or \"warn,lb=debug\""
        )
    };
    let mut filter = EnvFilter::builder()
        .with_default_directive(tracing::Level::INFO.into())
        .parse(level)
        .map_err(|e| bad(&e))?;
    let access = if !access_log {
        Some("lb::access=off")
    } else if level.contains(ACCESS_TARGET) {
        None
    } else {
        Some("lb::access=info")
    };
    if let Some(directive) = access {
        let directive: Directive = directive.parse().map_err(|e| bad(&e))?;
        filter = filter.add_directive(directive);
    }
    Ok(filter)
}

/// The subscriber for a filter, format and writer.
pub(crate) fn subscriber<W>(
    filter: EnvFilter,
    format: Format,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = match format {
        Format::Text => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
            .boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter))
}

/// One access log line for an HTTP request.
pub(crate) fn access_http(listener: &str, o: &RequestOutcome<'_>) {
    tracing::info!(
        target: ACCESS_TARGET,
        %listener,
        client = %o.client,
        method = %o.method,
        host = %o.host,
        path = %o.path,
        status = o.status,
        upstream = %o.upstream.unwrap_or("-"),
        server = %o.server.unwrap_or("-"),
        duration_ms = millis(o.duration),
        bytes_in = o.bytes_in,
        bytes_out = o.bytes_out,
    );
}

/// One access log line for a TCP connection.
pub(crate) fn access_tcp(listener: &str, o: &ConnectionOutcome<'_>) {
    tracing::info!(
        target: ACCESS_TARGET,
        %listener,
        client = %o.client,
        server = %OrDash(o.server),
        bytes_up = o.bytes_up,
        bytes_down = o.bytes_down,
        duration_ms = millis(o.duration),
        close = %o.close,
    );
}

/// Displays the value, or `-` for none.
struct OrDash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Milliseconds with microsecond precision.
fn millis(d: std::time::Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    fn request() -> RequestOutcome<'static> {
        RequestOutcome {
            client: ([10, 0, 0, 7], 51234).into(),
            method: "GET",
            host: "example.com",
            path: "/api/v2/x",
            route: Some(0),
            upstream: Some("api"),
            server: None,
            status: 503,
            duration: Duration::from_micros(3172),
            bytes_in: 0,
            bytes_out: 20,
        }
    }

    /// What the subscriber writes for one access line and one `info` line.
    fn emit(level: &str, format: Format, access_log: bool) -> String {
        let buf = Buf::default();
        let subscriber = subscriber(filter(level, access_log).unwrap(), format, buf.clone());
        tracing::subscriber::with_default(subscriber, || {
            access_http("web", &request());
            tracing::info!(target: "lb_server::reload", "an info line");
        });
        let out = buf.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn access_log_does_not_depend_on_the_level_and_can_be_turned_off() {
        let out = emit("warn", Format::Text, true);
        assert!(out.contains("lb::access"), "{out}");
        assert!(
            out.contains("method=GET host=example.com path=/api/v2/x status=503"),
            "{out}"
        );
        assert!(
            out.contains("upstream=api server=- duration_ms=3.172 bytes_in=0 bytes_out=20"),
            "{out}"
        );
        assert!(!out.contains("an info line"), "{out}");

        let out = emit("info", Format::Text, false);
        assert!(!out.contains("lb::access"), "{out}");
        assert!(out.contains("an info line"), "{out}");

        // A level that names the target is respected as written.
        let out = emit("info,lb::access=off", Format::Text, true);
        assert!(!out.contains("lb::access"), "{out}");
    }

    #[test]
    fn json_lines_carry_the_access_fields() {
        let out = emit("info", Format::Json, true);
        let line = out.lines().find(|l| l.contains("lb::access")).unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["target"], "lb::access");
        assert_eq!(v["client"], "10.0.0.7:51234");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["status"], 503);
        assert_eq!(v["upstream"], "api");
        assert_eq!(v["server"], "-");
        assert_eq!(v["duration_ms"], 3.172);
        assert_eq!(v["bytes_out"], 20);
    }

    #[test]
    fn access_lines_from_many_threads_arrive_whole_through_the_batch_writer() {
        const THREADS: usize = 4;
        const LINES: usize = 500;
        let out = Buf::default();
        let (writer, guard) = batch::BatchWriter::new(Box::new(out.clone())).unwrap();
        let dispatch = tracing::Dispatch::new(subscriber(
            filter("warn", true).unwrap(),
            Format::Json,
            writer,
        ));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let dispatch = dispatch.clone();
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for _ in 0..LINES {
                            access_http(&format!("web{t}"), &request());
                        }
                    });
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);

        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut per_listener = std::collections::HashMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["status"], 503, "{line}");
            *per_listener
                .entry(v["listener"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        assert_eq!(per_listener.len(), THREADS);
        assert!(
            per_listener.values().all(|&n| n == LINES),
            "{per_listener:?}"
        );
    }

    #[test]
    fn a_bad_level_names_the_key() {
        let err = filter("info,lb=[", true).unwrap_err();
        assert!(err.starts_with("log.level:"), "{err}");
    }
}
